/** POST /jobs/migrate with the real memory store the document API serves: no fake. */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { auth, type Serve, startServe } from "./serve-harness.ts"

let s: Serve
const dir = mkdtempSync(join(tmpdir(), "dbsweep-serve-migrate-"))
beforeAll(async () => {
  s = await startServe({ storeSpec: { kind: "memory" } })
})
afterAll(async () => {
  await s.close()
  rmSync(dir, { recursive: true, force: true })
})

const call = (path: string, method: string, body?: unknown) =>
  s.request(path, { method, headers: auth(), ...(body === undefined ? {} : { body: JSON.stringify(body) }) })

test("documents saved through the API migrate to a file store; a bad body names the field; a second run writes nothing", async () => {
  expect((await call("/docs/agents/agent-1", "PUT", { name: "My Agent" })).status).toBe(200)
  expect((await call("/docs/agents/agent-2", "PUT", { name: "Other" })).status).toBe(200)
  const bad = await call("/jobs/migrate", "POST", { from: "memory" })
  expect(bad.status).toBe(400)
  expect(((await bad.json()) as { message: string }).message).toContain("to")
  const runOnce = async () => {
    const started = await call("/jobs/migrate", "POST", { from: "memory", to: `file:${dir}` })
    expect(started.status).toBe(202)
    const { id } = (await started.json()) as { id: string }
    for (let i = 0; i < 100; i++) {
      const run = (await (await call(`/jobs/${id}`, "GET")).json()) as {
        state: string
        summary?: { written: number; skipped: number }
      }
      if (run.state !== "running") return run
      await Bun.sleep(20)
    }
    throw new Error("the migration did not end")
  }
  const first = await runOnce()
  expect(first.state).toBe("succeeded")
  expect(first.summary?.written).toBe(2)
  const lines = readFileSync(join(dir, "agents.ndjson"), "utf8").trim().split("\n")
  expect(lines.map((l) => (JSON.parse(l) as { _id: string })._id)).toEqual(["agent-1", "agent-2"])
  const second = await runOnce()
  expect(second.summary).toMatchObject({ written: 0, skipped: 2 })
})
