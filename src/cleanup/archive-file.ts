import { constants } from "node:fs"
import { access, open, stat } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Effect, Schema } from "effect"
import { ConfigError } from "../shared/errors.ts"

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

const setting = "--archive-file / CLEANUP_ARCHIVE_FILE"

const statOf = (path: string) =>
  Effect.tryPromise({ try: () => stat(path), catch: () => undefined }).pipe(
    Effect.orElseSucceed(() => undefined),
  )

const writable = (path: string) =>
  Effect.tryPromise({ try: () => access(path, constants.W_OK), catch: () => false }).pipe(
    Effect.as(true),
    Effect.orElseSucceed(() => false),
  )

/**
 * The preflight of an archive file, before anything is deleted (in a dry run too, which creates
 * nothing): a path in a directory that exists, that is not itself a directory, and that this
 * user may write. What fails later (a full disk) is an ArchiveFileError.
 */
export const checkArchiveFile = Effect.fn("Cleanup.checkArchiveFile")(function* (path: string) {
  const fail = (why: string) => new ConfigError({ message: `${setting} ${path}: ${why}` })
  if (path.trim() === "") return yield* fail("give the path of an NDJSON file")
  const file = yield* statOf(path)
  if (file?.isDirectory() === true) {
    return yield* fail("is a directory: give the path of a file in it, e.g. pending-archive.ndjson")
  }
  if (file !== undefined) {
    if (!(yield* writable(path))) return yield* fail("this user may not write to it: fix its permissions")
    return
  }
  const directory = dirname(resolve(path))
  const parent = yield* statOf(directory)
  if (parent === undefined) return yield* fail(`directory ${directory} does not exist: create it first`)
  if (!parent.isDirectory()) return yield* fail(`${directory} is not a directory`)
  if (!(yield* writable(directory))) {
    return yield* fail(`this user may not create files in ${directory}: fix its permissions`)
  }
})
