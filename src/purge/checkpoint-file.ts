import { FileSystem } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { ConfigError } from "../shared/errors.ts"
import { fileProblem, replaceFile, whyNotWritable } from "../shared/files.ts"
import { CheckpointStore, type CheckpointStoreShape } from "./checkpoint.ts"

/**
 * A plain file holding the bare seq, as the original tool's `last_seq.txt` did, so either tool
 * can continue from the other's file. Replaced whole (temporary file, fsync, rename), so a crash
 * never leaves half a seq.
 */
export const makeFileCheckpointStore = (fs: FileSystem.FileSystem, path: string): CheckpointStoreShape => {
  const failed = (what: string, why: string) =>
    new ConfigError({
      message: `cannot ${what} --checkpoint-file ${JSON.stringify(path)} (${why}): give a path to a file in a writable directory`,
    })
  return {
    describe: () => path,
    check: () =>
      whyNotWritable(fs, path).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (why) => failed("write", why) })),
      ),
    load: () =>
      Effect.gen(function* () {
        const exists = yield* fs.exists(path).pipe(Effect.mapError((e) => failed("read", fileProblem(e))))
        if (!exists) return Option.none()
        const text = (yield* fs
          .readFileString(path)
          .pipe(Effect.mapError((e) => failed("read", fileProblem(e))))).trim()
        return text === "" ? Option.none() : Option.some(text)
      }),
    save: (_db, seq) =>
      replaceFile(fs, path, `${seq}\n`).pipe(Effect.mapError((e) => failed("write", fileProblem(e)))),
  }
}

export const FileCheckpointStore = (path: string) =>
  Layer.effect(
    CheckpointStore,
    FileSystem.FileSystem.pipe(Effect.map((fs) => makeFileCheckpointStore(fs, path))),
  )
