import { describe, expect, test } from "bun:test"
import { progressWords, summaryFields } from "../../src/http/page-format.ts"
import type { RunStatus } from "../../src/jobs/status.ts"

/** The status page's words for a purge whose safety caps held tombstones back. */

const run = (over: Partial<RunStatus>): RunStatus => ({
  id: "r1",
  job: "purge",
  target: "orders",
  trigger: "manual",
  state: "succeeded",
  progress: { label: "orders", done: 0, total: 0, ratePerSecond: 0 },
  startedAt: "2026-01-01T00:00:00Z",
  finishedAt: "2026-01-01T00:00:01Z",
  summary: undefined,
  error: undefined,
  ...over,
})

const purgeSummary = {
  dryRun: false,
  tombstones: 5,
  revs: 5,
  purgedRevs: 2,
  alreadyGone: 0,
  failedDocs: 0,
  failedBatches: 0,
  requests: 1,
  retries: 0,
  durationMs: 1000,
  heldBack: { grace: 2, replication: 1, "replication-error": 0 },
}

describe("held-back tombstones on the status page", () => {
  test("a finished purge lists them by reason", () => {
    const fields = new Map(summaryFields(run({ summary: purgeSummary })))
    expect(fields.get("held back")).toBe("3 tombstones (grace 2, replication 1)")
    expect(new Map(summaryFields(run({ summary: { ...purgeSummary, dryRun: true } }))).get("held back")).toBe(
      "3 tombstones (grace 2, replication 1)",
    )
  })

  test("none held: no such line", () => {
    const none = { ...purgeSummary, heldBack: { grace: 0, replication: 0, "replication-error": 0 } }
    expect(new Map(summaryFields(run({ summary: none }))).has("held back")).toBe(false)
  })

  test("a running purge shows them beside its progress, also when nothing else moved", () => {
    const running = run({
      state: "running",
      progress: { label: "orders", done: 10, total: 20, ratePerSecond: 5, held: { "replication-error": 7 } },
    })
    expect(progressWords(running)).toContain("held back: replication-error 7")
    const stuck = run({
      state: "running",
      progress: { label: "", done: 0, total: 0, ratePerSecond: 0, held: { grace: 4 } },
    })
    expect(progressWords(stuck)).toBe("held back: grace 4")
  })
})
