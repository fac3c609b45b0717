import { FileSystem } from "@effect/platform"
import { Effect, Layer, Option } from "effect"
import { ConfigError } from "../shared/errors.ts"
import { CheckpointStore } from "./checkpoint.ts"

/**
 * A plain file holding the bare seq, as the original tool's `last_seq.txt` did, so either tool
 * can continue from the other's file. Written to a temporary file and renamed, so a crash never
 * leaves half a seq.
 */
export const FileCheckpointStore = (path: string) =>
  Layer.effect(
    CheckpointStore,
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const failed = (what: string, e: { readonly message: string }) =>
        new ConfigError({
          message: `cannot ${what} checkpoint file ${path} (${e.message}): check the path and its permissions`,
        })
      return CheckpointStore.of({
        describe: () => path,
        load: () =>
          Effect.gen(function* () {
            const exists = yield* fs.exists(path).pipe(Effect.mapError((e) => failed("read", e)))
            if (!exists) return Option.none()
            const text = (yield* fs
              .readFileString(path)
              .pipe(Effect.mapError((e) => failed("read", e)))).trim()
            return text === "" ? Option.none() : Option.some(text)
          }),
        save: (_db, seq) => {
          const tmp = `${path}.tmp-${Math.random().toString(36).slice(2, 10)}`
          return fs.writeFileString(tmp, `${seq}\n`).pipe(
            Effect.zipRight(fs.rename(tmp, path)),
            Effect.mapError((e) => failed("write", e)),
          )
        },
      })
    }),
  )
