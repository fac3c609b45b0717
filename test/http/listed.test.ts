import { describe, expect, test } from "bun:test"
import { Console, Effect, Option, Schema } from "effect"
import { withListed } from "../../src/http/listed.ts"
import type { Job } from "../../src/jobs/job.ts"
import { Progress, silentProgress } from "../../src/shared/progress.ts"

const Options = Schema.Struct({ list: Schema.Boolean })

/** A job that prints one NDJSON line per id, several in one call, as purge's --list does. */
const job: Job<typeof Options.Type, { readonly n: number }, typeof Options.Encoded> = {
  name: "fake",
  options: Options,
  target: () => "t",
  problems: () => Option.none(),
  run: (o) =>
    Effect.gen(function* () {
      if (o.list) {
        const line = (id: string) => JSON.stringify({ id, revs: ["1-a"] })
        yield* Console.log(['a"1', "b\\n2", "c"].map(line).join("\n"))
        for (let i = 0; i < 20; i++) yield* Console.log(line(`d${i}`))
      }
      return { n: 23 }
    }),
}

const run = (list: boolean) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    return yield* withListed(job).run({ list }, { stopping: Effect.succeed(false), progress })
  }).pipe(Effect.provide(silentProgress), Effect.runPromise)

describe("withListed", () => {
  test("keeps the first ten listed ids in the summary (lines split, JSON unescaped) and prints nothing", async () => {
    const summary = await run(true)
    expect(summary).toEqual({
      n: 23,
      listed: ['a"1', "b\\n2", "c", "d0", "d1", "d2", "d3", "d4", "d5", "d6"],
    })
  })
  test("without list the summary is the job's own", async () => {
    expect(await run(false)).toEqual({ n: 23 })
  })
})
