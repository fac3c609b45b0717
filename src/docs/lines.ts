import type { FileSystem } from "@effect/platform"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import { fileProblem } from "../shared/files.ts"
import { StoreUnavailable } from "./errors.ts"
import type { Doc } from "./store.ts"

/**
 * The documents of a newline-delimited file, read a MiB at a time into one buffer: each MiB is
 * split into lines and decoded by plain code in one effect. An effect (or a stream element) per line is what
 * made a 50,000-line file cost seconds of CPU. Lines are found in the bytes and decoded one by
 * one: decoding a whole MiB first made strings of megabytes that lingered until a collection.
 * `decode` turns one non-empty line (numbered from 1) into the documents it holds, or says why
 * it is not a line of this format; blank lines are skipped.
 */
export const streamLines = (
  fs: FileSystem.FileSystem,
  path: string,
  store: string,
  decode: (line: string, lineNo: number) => Either.Either<ReadonlyArray<Doc>, string>,
): Stream.Stream<Doc, StoreUnavailable> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const refused = (reason: string) => new StoreUnavailable({ store, reason, retryable: false })
      const file = yield* fs.open(path).pipe(Effect.mapError((e) => refused(fileProblem(e))))
      // One buffer, read into again and again: each MiB is decoded before the next read.
      const buffer = new Uint8Array(1024 * 1024)
      const text = new TextDecoder()
      let rest = new Uint8Array(0)
      let lineNo = 0
      let done = false
      /** Decodes the complete lines of `rest` + `part` (all of it when `final`), keeping the tail. */
      const lines = (part: Uint8Array, final: boolean): Either.Either<Chunk.Chunk<Doc>, StoreUnavailable> => {
        const docs: Array<Doc> = []
        const take = (bytes: Uint8Array): StoreUnavailable | undefined => {
          lineNo += 1
          const line = text.decode(bytes)
          if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === "")) return undefined
          const decoded = decode(line, lineNo)
          if (Either.isLeft(decoded)) return refused(decoded.left)
          for (const doc of decoded.right) docs.push(doc)
          return undefined
        }
        let bytes = part
        if (rest.length > 0) {
          bytes = new Uint8Array(rest.length + part.length)
          bytes.set(rest)
          bytes.set(part, rest.length)
        }
        let start = 0
        for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
          const problem = take(bytes.subarray(start, end))
          if (problem !== undefined) return Either.left(problem)
          start = end + 1
        }
        rest = bytes.slice(start)
        if (final && rest.length > 0) {
          const problem = take(rest)
          if (problem !== undefined) return Either.left(problem)
        }
        return Either.right(Chunk.unsafeFromArray(docs))
      }
      const step = Effect.suspend(() =>
        done
          ? Effect.fail(Option.none())
          : file.read(buffer).pipe(
              Effect.mapError((e) => Option.some(refused(fileProblem(e)))),
              Effect.flatMap((read) => {
                const n = Number(read)
                done = n === 0
                return Either.match(lines(buffer.subarray(0, n), done), {
                  onLeft: (problem) => Effect.fail(Option.some(problem)),
                  onRight: (docs) => Effect.succeed(docs),
                })
              }),
            ),
      )
      return Stream.repeatEffectChunkOption(step)
    }),
  )
