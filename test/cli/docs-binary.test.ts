import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freshCollection, tempDir } from "../docs/stores.ts"
import { expectCleanFailure } from "../support/bad-input.ts"
import { runBinary } from "../support/binary.ts"
import { type CouchTarget, startCouchTarget } from "../support/couch-target.ts"
import { startSilentServer } from "../support/silent-server.ts"

let t: CouchTarget
beforeAll(async () => {
  t = await startCouchTarget()
})
afterAll(async () => {
  await t.stop()
})

const couchEnv = () => ({
  DATABASE_PROVIDER: "couchdb",
  COUCHDB_URL: t.url,
  COUCHDB_USER: t.user,
  COUCHDB_PASSWORD: t.password,
})

/** Runs the binary with `stdin` piped in. */
const withStdin = async (args: ReadonlyArray<string>, stdin: string, env: Record<string, string>) => {
  const proc = Bun.spawn([join(import.meta.dir, "..", "..", "dist", "dbsweep"), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdin: new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  return { code, stdout, stderr }
}

describe("dbsweep docs (binary)", () => {
  test("the original's example against CouchDB: put → 1-…, put again without _rev → 2-…; get, list, collections, delete", async () => {
    const env = couchEnv()
    const c = freshCollection("agents")
    const first = await withStdin(["docs", "put", c, "agent-1"], '{"name":"My Agent"}', env)
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout).rev).toMatch(/^1-/)
    const second = await withStdin(["docs", "put", c, "agent-1"], '{"name":"Updated Agent"}', env)
    expect(JSON.parse(second.stdout).rev).toMatch(/^2-/)
    const got = await runBinary(["docs", "get", c, "agent-1"], { env })
    expect(JSON.parse(got.stdout)).toMatchObject({ _id: "agent-1", name: "Updated Agent" })
    const dir = tempDir()
    writeFileSync(join(dir, "b.json"), '{"name":"Other"}')
    expect(
      (await runBinary(["docs", "put", c, "agent-2", "--file", join(dir, "b.json")], { env })).code,
    ).toBe(0)
    const listed = await runBinary(["docs", "list", c, "--page-size", "1"], { env })
    expect(
      listed.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)._id),
    ).toEqual(["agent-1", "agent-2"])
    const cols = await runBinary(["docs", "collections"], { env })
    expect(cols.stdout.split("\n")).toContain(JSON.stringify(c))
    const del = await runBinary(["docs", "delete", c, "agent-2"], { env })
    expect(JSON.parse(del.stdout).rev).toMatch(/^2-/)
    expectCleanFailure(await runBinary(["docs", "get", c, "agent-2"], { env }), {
      code: 2,
      names: ["agent-2", "not found"],
      secrets: [t.password],
      user: t.user,
    })
  })

  test("migrate file → couchdb with --json: counts per collection; a second run writes nothing", async () => {
    const dir = tempDir()
    const c = freshCollection("mig")
    for (const id of ["a", "b", "c"]) {
      expect(
        (await withStdin(["docs", "put", "--store", `file:${dir}`, c, id], `{"v":"${id}"}`, {})).code,
      ).toBe(0)
    }
    const args = ["docs", "migrate", "--from", `file:${dir}`, "--to", "couchdb", "--json", "--batch", "2"]
    const first = await runBinary(args, { env: couchEnv() })
    expect(first.code, first.stderr).toBe(0)
    const s1 = JSON.parse(first.stdout)
    expect([s1.read, s1.written, s1.skipped, s1.failed]).toEqual([3, 3, 0, 0])
    expect(s1.collections).toEqual([{ collection: c, read: 3, written: 3, skipped: 0, failed: 0 }])
    const s2 = JSON.parse((await runBinary(args, { env: couchEnv() })).stdout)
    expect([s2.written, s2.skipped]).toEqual([0, 3])
  })

  test("SIGINT before a migration writes anything, while a server never answers, exits 130 at once, in one line", async () => {
    const silent = startSilentServer()
    try {
      const dir = tempDir()
      writeFileSync(join(dir, "users.ndjson"), '{"_id":"a"}\n')
      for (const args of [
        // The source's collections are asked first; then the source's first page; then the target's collections.
        ["--from", "couchdb", "--to", "memory"],
        ["--from", "couchdb", "--to", "memory", "--collections", "users"],
        ["--from", `ndjson:${join(dir, "users.ndjson")}`, "--to", "couchdb"],
      ]) {
        await silent.expectInterruptedAtOnce(["docs", "migrate", ...args], {
          env: { ...couchEnv(), COUCHDB_URL: silent.url },
        })
      }
    } finally {
      silent.stop()
    }
  }, 45_000)

  test("bad input: one line, the right exit code", async () => {
    const dir = tempDir()
    const file = { DATABASE_PROVIDER: `file:${dir}` }
    expectCleanFailure(await withStdin(["docs", "put", "agents", "x"], "{not json", file), {
      code: 2,
      names: ["stdin", "not valid JSON"],
    })
    expectCleanFailure(await withStdin(["docs", "put", "agents", "x"], "[1,2]", file), {
      code: 2,
      names: ["JSON object"],
    })
    expectCleanFailure(await withStdin(["docs", "put", "Bad_Name", "x"], "{}", file), {
      code: 2,
      names: ["Bad_Name", "lowercase letter"],
    })
    expect((await withStdin(["docs", "put", "agents", "here"], "{}", file)).code).toBe(0)
    expectCleanFailure(await runBinary(["docs", "get", "agents", "missing"], { env: file }), {
      code: 2,
      names: ["missing", "agents"],
    })
    expectCleanFailure(await runBinary(["docs", "list", "nosuch"], { env: file }), {
      code: 2,
      names: ["nosuch", "does not exist"],
    })
    expectCleanFailure(await runBinary(["docs", "collections", "--store", "mongo"], {}), {
      code: 2,
      names: ["--store", "mongo", "file:DIR"],
    })
    expectCleanFailure(await runBinary(["docs", "migrate", "--from", "memory", "--to", "couchdb"], {}), {
      code: 2,
      names: ["COUCHDB_URL"],
    })
    expect((await withStdin(["docs", "put", "others", "y"], "{}", file)).code).toBe(0)
    expectCleanFailure(
      await runBinary(
        ["docs", "migrate", "--from", `file:${dir}`, "--to", `couchbackup:${join(dir, "b.txt")}`],
        {},
      ),
      { code: 2, names: ["couchbackup", "--collections"] },
    )
    writeFileSync(
      join(dir, "damaged.txt"),
      '{"name":"@cloudant/couchbackup","version":"2.11.12","mode":"full"}\n[{"_id":"a"}]\nnot json\n',
    )
    const damaged = await runBinary(
      [
        "docs",
        "migrate",
        "--from",
        `couchbackup:${join(dir, "damaged.txt")}`,
        "--to",
        `file:${dir}`,
        "--collections",
        "restored",
      ],
      {},
    )
    // A damaged file is the user's to fix: a usage error (2), not a connection problem (3).
    expectCleanFailure(damaged, { code: 2, names: ["damaged.txt", "line 3"] })
    expectCleanFailure(
      await runBinary(["docs", "put", "agents", "x", "--file", join(dir, "nope.json")], { env: file }),
      { code: 2, names: ["--file", "nope.json"] },
    )
    // A path under a regular file: the parser used to probe it and die ("internal error").
    writeFileSync(join(dir, "plain"), "a file\n")
    expectCleanFailure(
      await runBinary(["docs", "put", "agents", "x", "--file", join(dir, "plain", "doc.json")], {
        env: file,
      }),
      { code: 2, names: ["--file", "not a directory"] },
    )
  })

  test("plain NDJSON (no _rev) from the binary: ndjson:FILE and file:DIR into CouchDB, a second run writes nothing; a line without _id is exit 2 naming file and line", async () => {
    const dir = tempDir()
    const c = freshCollection("plain")
    const lines = ["c", "a", "b"].map((id) => JSON.stringify({ _id: id, title: `ticket ${id}` }))
    writeFileSync(join(dir, `${c}.ndjson`), `${lines.join("\n")}\n`)
    const single = [
      "docs",
      "migrate",
      "--from",
      `ndjson:${join(dir, `${c}.ndjson`)}`,
      "--to",
      "couchdb",
      "--json",
    ]
    const first = await runBinary(single, { env: couchEnv() })
    expect(first.code, first.stderr).toBe(0)
    const s1 = JSON.parse(first.stdout)
    expect(s1.collections).toEqual([{ collection: c, read: 3, written: 3, skipped: 0, failed: 0 }])
    const fromDir = ["docs", "migrate", "--from", `file:${dir}`, "--to", "couchdb", "--json"]
    const again = await runBinary(fromDir, { env: couchEnv() })
    expect(again.code, again.stderr).toBe(0)
    expect([JSON.parse(again.stdout).written, JSON.parse(again.stdout).skipped]).toEqual([0, 3])
    const got = await runBinary(["docs", "get", c, "b"], { env: couchEnv() })
    expect(JSON.parse(got.stdout)).toMatchObject({ _id: "b", title: "ticket b" })
    expect(JSON.parse(got.stdout)._rev).toMatch(/^1-/)

    const bad = tempDir()
    const target = freshCollection("refused")
    writeFileSync(join(bad, "tickets.ndjson"), '{"_id":"a"}\n{"title":"no id"}\n')
    const refused = await runBinary(
      [
        "docs",
        "migrate",
        "--from",
        `ndjson:${join(bad, "tickets.ndjson")}`,
        "--to",
        "couchdb",
        "--collections",
        target,
      ],
      { env: couchEnv() },
    )
    expectCleanFailure(refused, {
      code: 2,
      names: ["tickets.ndjson line 2", '"_id"'],
      secrets: [t.password],
      user: t.user,
    })
    // Refused before anything was written.
    expect((await runBinary(["docs", "list", target], { env: couchEnv() })).code).toBe(2)
  })
})
