import { afterEach, describe, expect, test } from "bun:test"
import { readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Exit, Option } from "effect"
import * as Statements from "../../src/cleanup/statements.ts"
import { defaultTarget, resolveTarget } from "../../src/cleanup/target.ts"
import { cleanup, withClient } from "../support/pg-effect.ts"
import {
  checksum,
  closeDatabases,
  count,
  expectedMatches,
  matching,
  seededDatabase,
} from "../support/pg-fixtures.ts"

afterEach(closeDatabases)
const database = (size = { users: 100, pending: 100 }) => seededDatabase(size, "c")

describe("cleanup rule", () => {
  test("matches emails case-insensitively and deletes only matches; users untouched", async () => {
    const { url, sql } = await database({ users: 200, pending: 300 })
    const usersBefore = await checksum(sql, "users")
    const keep = await sql`select pending_user_id::text as id from pending_users p
      where not exists (select 1 from users u where lower(u.email) = lower(p.email)) order by 1`
    const summary = await cleanup(url, { batchSize: 7 })
    expect(summary.deleted).toBe(expectedMatches({ users: 200, pending: 300 }))
    expect(await count(sql, matching)).toBe(0)
    const left = await sql`select pending_user_id::text as id from pending_users order by 1`
    expect(left.map((r) => r.id)).toEqual(keep.map((r) => r.id))
    expect(await checksum(sql, "users")).toBe(usersBefore)
  })

  test("--case-sensitive deletes only exact matches", async () => {
    const { url, sql } = await database({ users: 10, pending: 10 })
    await sql`insert into users (email) values ('exact@example.com')`
    await sql`insert into pending_users (email) values ('exact@example.com')`
    const summary = await cleanup(url, { target: { ...defaultTarget, caseSensitive: true } })
    expect(summary.deleted).toBe(1)
    expect(await count(sql, `select 1 from pending_users where email = 'exact@example.com'`)).toBe(0)
    expect(await count(sql, matching)).toBe(expectedMatches({ users: 10, pending: 10 }))
  })

  // Both batch strategies: by block range (an index serves the match) and by match list (none does).
  for (const indexed of [true, false]) {
    for (const [name, matches] of [
      ["no match", 0],
      ["one", 1],
      ["exactly a batch", 10],
      ["a batch and one", 11],
      ["many batches", 95],
    ] as const) {
      test(`batch boundaries${indexed ? "" : " without index"}: ${name} (${matches} matches, batch 10)`, async () => {
        const { url, sql } = await database({ users: matches * 2, pending: matches * 2 + 5 })
        if (!indexed) await sql`drop index users_lower_email`
        expect(await count(sql, matching)).toBe(matches)
        const dry = await cleanup(url, { batchSize: 10, dryRun: true })
        expect(dry.matched).toBe(matches)
        const summary = await cleanup(url, { batchSize: 10 })
        expect(summary.deleted).toBe(matches)
        // The list is cut into full batches; block ranges are sized from the table's statistics and
        // a range is taken again while it yields a full batch, so there can be more (never fewer).
        if (indexed) expect(summary.batches).toBeGreaterThanOrEqual(Math.ceil(matches / 10))
        else expect(summary.batches).toBe(Math.ceil(matches / 10))
        expect(await count(sql, matching)).toBe(0)
        expect(await count(sql, "select 1 from pending_users")).toBe(matches + 5)
      })
    }
  }

  test("a dry run deletes nothing, masks emails, and agrees with the real run", async () => {
    const { url, sql } = await database({ users: 120, pending: 150 })
    const before = await checksum(sql, "pending_users")
    const dry = await cleanup(url, { dryRun: true, sample: 5 })
    expect(await checksum(sql, "pending_users")).toBe(before)
    expect(dry.sample).toHaveLength(5)
    for (const row of dry.sample) expect(row.email).toMatch(/^[A-Za-z]\*\*\*@/)
    const shown = await cleanup(url, { dryRun: true, sample: 2, showEmails: true })
    expect(shown.sample[0]?.email).toMatch(/^[A-Za-z]+\d+@/)
    const real = await cleanup(url, { batchSize: 13 })
    expect(dry.matched).toBe(60)
    expect(real.deleted).toBe(60)
    // A real run does not count matches up front: it reports what it deleted, not a made-up 0.
    expect(real.matched).toBeUndefined()
  })

  test("the archive table holds exactly the deleted rows", async () => {
    const { url, sql } = await database({ users: 80, pending: 100 })
    const doomed = await sql`select p.*, p::text as t from pending_users p
      where exists (select 1 from users u where lower(u.email) = lower(p.email)) order by pending_user_id`
    const summary = await cleanup(url, { batchSize: 9, archiveTable: Option.some("pending_archive") })
    expect(summary.deleted).toBe(doomed.length)
    const archived =
      await sql`select pending_user_id, email, token, created_at, archived_at from pending_archive order by pending_user_id`
    expect(archived.map((r) => [r.pending_user_id, r.email, r.token])).toEqual(
      doomed.map((r) => [r.pending_user_id, r.email, r.token]),
    )
    expect(archived.every((r) => r.archived_at instanceof Date)).toBe(true)
  })

  test("the archive file holds exactly the deleted rows, as NDJSON", async () => {
    const { url, sql } = await database({ users: 60, pending: 70 })
    const doomed = await sql`select pending_user_id::text as id, email from pending_users p
      where exists (select 1 from users u where lower(u.email) = lower(p.email)) order by 1`
    const file = join(tmpdir(), `dbsweep-archive-${process.pid}-${Date.now()}.ndjson`)
    try {
      const summary = await cleanup(url, { batchSize: 8, archiveFile: Option.some(file) })
      expect(summary.deleted).toBe(doomed.length)
      const lines = readFileSync(file, "utf8").trim().split("\n")
      const rows = lines
        .map((l) => JSON.parse(l))
        .sort((a, b) => (a.pending_user_id < b.pending_user_id ? -1 : 1))
      expect(rows.map((r) => [r.pending_user_id, r.email])).toEqual(doomed.map((r) => [r.id, r.email]))
    } finally {
      rmSync(file, { force: true })
    }
  })

  test("a row locked by another transaction is skipped, and the next run deletes it", async () => {
    const { url, sql } = await database({ users: 40, pending: 40 })
    const [locked] = await sql`select pending_user_id from pending_users p
      where exists (select 1 from users u where lower(u.email) = lower(p.email)) limit 1`
    const holder = await sql.reserve()
    try {
      await holder`begin`
      await holder`select 1 from pending_users where pending_user_id = ${locked!.pending_user_id} for update`
      const first = await cleanup(url, { batchSize: 5 })
      expect(first.deleted).toBe(19)
      expect(await count(sql, matching)).toBe(1)
      await holder`commit`
    } finally {
      holder.release()
    }
    const second = await cleanup(url)
    expect(second.deleted).toBe(1)
    expect(await count(sql, matching)).toBe(0)
  })

  test("a user deleted between selection and deletion keeps their pending row", async () => {
    const { url, sql } = await database({ users: 20, pending: 20 })
    const exit = await withClient(url, (client) =>
      Effect.gen(function* () {
        const target = yield* resolveTarget(client, defaultTarget, { delete: true })
        const list = yield* client.query("list", (s) => Statements.matchList(s, target))
        // The user of the first match goes away after the list was made.
        const victim = list[0]!
        yield* client.query("delete user", (s) => s`delete from users where ctid = ${victim.u}::tid`)
        const deleted = yield* client.transaction("batch", (tx) =>
          tx.query("batch", (s) =>
            Statements.deleteBatch(
              s,
              target,
              { kind: "list", pending: list.map((m) => String(m.p)), users: list.map((m) => String(m.u)) },
              { mode: "rows" },
            ),
          ),
        )
        return { deleted: deleted.length, listed: list.length }
      }),
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    if (Exit.isSuccess(exit)) expect(exit.value.deleted).toBe(exit.value.listed - 1)
    expect(await count(sql, "select 1 from pending_users")).toBe(11)
    expect(await count(sql, matching)).toBe(0)
  })

  test("by block range too: a user deleted before the batch keeps their pending row", async () => {
    const { url, sql } = await database({ users: 20, pending: 20 })
    await sql`delete from users where lower(email) = 'user2@example.com'`
    const exit = await withClient(url, (client) =>
      Effect.gen(function* () {
        const target = yield* resolveTarget(client, defaultTarget, { delete: true })
        expect(target.usersIndexed).toBe(true)
        return yield* client.query("batch", (s) =>
          Statements.deleteBatch(
            s,
            target,
            { kind: "range", from: 0, to: 1000, limit: 1000 },
            { mode: "rows" },
          ),
        )
      }),
    )
    expect(Exit.isSuccess(exit)).toBe(true)
    if (Exit.isSuccess(exit)) expect(exit.value.length).toBe(9)
    expect(await count(sql, "select 1 from pending_users where lower(email) = 'user2@example.com'")).toBe(1)
    expect(await count(sql, matching)).toBe(0)
  })

  test("without an index serving the match, the match-list path deletes exactly the matches", async () => {
    const { url, sql } = await database({ users: 300, pending: 300 })
    await sql`drop index users_lower_email`
    const users = await checksum(sql, "users")
    const summary = await cleanup(url, { batchSize: 7 })
    expect(summary.deleted).toBe(150)
    expect(summary.batches).toBe(22)
    expect(await count(sql, matching)).toBe(0)
    expect(await count(sql, "select 1 from pending_users")).toBe(150)
    expect(await checksum(sql, "users")).toBe(users)
  })

  // The run either finishes or stops with a clear PgConnectError when the session holding the
  // advisory lock is cut; either way every batch committed whole and a second run completes.
  test("backends terminated mid-run: the run recovers and nothing is half-done", async () => {
    const { url, sql } = await database({ users: 3000, pending: 3000 })
    const usersBefore = await checksum(sql, "users")
    const run = cleanup(url, { batchSize: 10, concurrency: 1, statementTimeout: Duration.seconds(2) })
    // Let a few batches commit, then cut every dbsweep connection.
    for (let i = 0; i < 100; i++) {
      const [row] = await sql`select count(*)::int as n from pending_users`
      if (Number(row?.n) < 2990) break
      await Bun.sleep(10)
    }
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'dbsweep' and pid <> pg_backend_pid()`
    const summary = await run.catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))))
    if (summary instanceof Error) {
      // Failing is allowed only clearly; then what is gone must be exactly matching rows.
      expect(summary.message).toContain("PgConnectError")
    } else {
      expect(summary.deleted).toBe(1500)
    }
    expect(await count(sql, "select 1 from pending_users")).toBe(3000 - (1500 - (await count(sql, matching))))
    const rest = await cleanup(url)
    expect(await count(sql, matching)).toBe(0)
    expect(rest.deleted + (summary instanceof Error ? 0 : summary.deleted)).toBeLessThanOrEqual(1500)
    expect(await count(sql, "select 1 from pending_users")).toBe(1500)
    expect(await checksum(sql, "users")).toBe(usersBefore)
  })

  test("a stop request ends the run after the batch in flight", async () => {
    const { url, sql } = await database({ users: 200, pending: 200 })
    let batches = 0
    const summary = await cleanup(
      url,
      { batchSize: 10, concurrency: 1 },
      Effect.sync(() => {
        batches += 1
        return batches > 3
      }),
    )
    expect(summary.interrupted).toBe(true)
    expect(summary.deleted).toBe(30)
    expect(await count(sql, matching)).toBe(70)
  })
})
