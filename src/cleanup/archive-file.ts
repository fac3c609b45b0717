import { open } from "node:fs/promises"
import { Effect, Schema } from "effect"

export class ArchiveFileError extends Schema.TaggedError<ArchiveFileError>()("ArchiveFileError", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `cannot write the archive file ${this.path} (${this.reason}): check the path, its permissions and free space`
  }
}

/** An NDJSON file the deleted rows are appended to, each batch synced to disk before it commits. */
export interface ArchiveFile {
  readonly path: string
  /** Appends the lines and waits until they are on disk; returns the size before, to undo with `truncate`. */
  readonly append: (lines: ReadonlyArray<string>) => Effect.Effect<number, ArchiveFileError>
  readonly truncate: (size: number) => Effect.Effect<void, ArchiveFileError>
}

/**
 * Opens `path` for appending until the scope closes. `node:fs` (present in Bun, Deno and Node)
 * rather than the platform FileSystem, so the library API needs no platform layer.
 */
export const openArchiveFile = (path: string) =>
  Effect.gen(function* () {
    const fail = (e: unknown) =>
      new ArchiveFileError({ path, reason: e instanceof Error ? e.message : String(e) })
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => open(path, "a"), catch: fail }),
      (h) => Effect.promise(() => h.close()),
    )
    const archive: ArchiveFile = {
      path,
      append: (lines) =>
        Effect.tryPromise({
          try: async () => {
            const before = (await handle.stat()).size
            if (lines.length > 0) {
              await handle.write(`${lines.join("\n")}\n`)
              await handle.datasync()
            }
            return before
          },
          catch: fail,
        }),
      truncate: (size) => Effect.tryPromise({ try: () => handle.truncate(size), catch: fail }),
    }
    return archive
  })
