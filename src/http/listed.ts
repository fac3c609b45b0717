import { Console, Effect } from "effect"
import type { Job, JobError } from "../jobs/job.ts"

/** How many ids a run started over HTTP with `list` keeps in its summary. */
export const listedIds = 10

/**
 * A job whose `list` output (one NDJSON line per document, `{"id":…}`) goes into its summary as
 * `listed` — the first ids — instead of the server's stdout, where nobody started over HTTP would
 * read it. The status page's dry run asks for it to show what a purge would remove.
 */
export const withListed = <O extends { readonly list: boolean }, S extends object, I, E extends JobError>(
  job: Job<O, S, I, E>,
): Job<O, S & { readonly listed?: ReadonlyArray<string> }, I, E> => ({
  ...job,
  run: (options, context) =>
    !options.list
      ? job.run(options, context)
      : Effect.suspend(() => {
          const ids: Array<string> = []
          // One call may carry several lines (a unit's documents at once).
          const keep = (text: unknown) => {
            if (typeof text !== "string") return
            for (const line of text.split("\n")) {
              if (ids.length >= listedIds) return
              const id = /^\{(?:"db":"(?:[^"\\]|\\.)*",)?"id":("(?:[^"\\]|\\.)*")/.exec(line)?.[1]
              if (id !== undefined) ids.push(String(JSON.parse(id)))
            }
          }
          return Console.consoleWith((base) =>
            job.run(options, context).pipe(
              Effect.withConsole({
                ...base,
                log: (...args: ReadonlyArray<unknown>) => Effect.sync(() => keep(args[0])),
              }),
              Effect.map((summary) => ({ ...summary, listed: ids })),
            ),
          )
        }),
})
