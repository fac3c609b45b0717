import type { FileSystem } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Effect, Option, Predicate } from "effect"

const phrases: ReadonlyArray<readonly [RegExp, string]> = [
  [/ENOTDIR/, "a part of the path is a file, not a directory"],
  [/EISDIR/, "it is a directory, not a file"],
  [/EACCES|EPERM|PermissionDenied/, "permission denied"],
  [/ENOENT|NotFound/, "no such file or directory"],
  [/ENOSPC/, "no space left on the device"],
  [/EROFS/, "the file system is read-only"],
  [/ENAMETOOLONG/, "the path is too long"],
  [/EEXIST|AlreadyExists/, "it already exists"],
]

/** A file-system failure in plain words, without the platform's "FileSystem.method (path):" prefix. */
export const fileProblem = (error: PlatformError): string => {
  const text = [
    error._tag === "SystemError" ? error.reason : "",
    Predicate.hasProperty(error, "description") && typeof error.description === "string"
      ? error.description
      : "",
    error.message,
  ].join(" ")
  for (const [pattern, phrase] of phrases) if (pattern.test(text)) return phrase
  return "the file system refused it"
}

/** What is at a path, without failing: its kind, or none when nothing is there or it cannot be seen. */
const kindAt = (fs: FileSystem.FileSystem, path: string) =>
  fs.stat(path).pipe(
    Effect.map((info) => Option.some(info.type)),
    Effect.orElseSucceed(() => Option.none<FileSystem.File.Type>()),
  )

/**
 * Why a file could not be written at `path`, checked before any work is done: the path is a
 * directory, its directory is missing or is a file, or a probe file cannot be created beside it.
 * None when it can be written.
 */
export const whyNotWritable = (fs: FileSystem.FileSystem, path: string) =>
  Effect.gen(function* () {
    if (path.trim() === "") return Option.some("the path is empty")
    const here = yield* kindAt(fs, path)
    if (Option.isSome(here) && here.value === "Directory") return Option.some("it is a directory, not a file")
    const slash = path.lastIndexOf("/")
    const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash)
    const parent = yield* kindAt(fs, dir)
    if (Option.isNone(parent)) return Option.some(`its directory ${dir} does not exist`)
    if (parent.value !== "Directory") return Option.some(`${dir} is a file, not a directory`)
    const probe = `${path}.dbsweep-probe-${Math.random().toString(36).slice(2, 10)}`
    return yield* fs.writeFileString(probe, "").pipe(
      Effect.zipRight(fs.remove(probe)),
      Effect.as(Option.none<string>()),
      Effect.catchAll((e) => Effect.succeed(Option.some(fileProblem(e)))),
    )
  })

/**
 * Replaces the file at `path` with `text` so that a reader (or a crash) sees the old content or the
 * new, never half of it: written to a temporary file beside it, synced to disk, then renamed over.
 */
export const replaceFile = (fs: FileSystem.FileSystem, path: string, text: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const temp = `${path}.tmp-${Math.random().toString(36).slice(2, 10)}`
      const file = yield* fs.open(temp, { flag: "w" })
      yield* file.writeAll(new TextEncoder().encode(text))
      yield* file.sync
      yield* fs.rename(temp, path)
    }),
  )
