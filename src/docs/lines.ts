import { FileSystem } from "@effect/platform"
import { Chunk, Effect, Either, Stream } from "effect"
import { fileProblem } from "../shared/files.ts"
import { StoreUnavailable } from "./errors.ts"
import type { Doc } from "./store.ts"

/**
 * The documents of a newline-delimited file, streamed a MiB at a time: each MiB is split into
 * lines and decoded by plain code in one effect. An effect (or a stream element) per line is what
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
  Stream.suspend(() => {
    const text = new TextDecoder()
    let rest = new Uint8Array(0)
    let lineNo = 0
    const refused = (reason: string) => new StoreUnavailable({ store, reason, retryable: false })
    /** Decodes the complete lines of `rest` + `parts` (all of it when `final`), keeping the tail. */
    const lines = (parts: Chunk.Chunk<Uint8Array>, final: boolean) =>
      Effect.suspend(() => {
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
        for (const part of parts) {
          let bytes = part
          if (rest.length > 0) {
            bytes = new Uint8Array(rest.length + part.length)
            bytes.set(rest)
            bytes.set(part, rest.length)
          }
          let start = 0
          for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
            const problem = take(bytes.subarray(start, end))
            if (problem !== undefined) return Effect.fail(problem)
            start = end + 1
          }
          rest = bytes.slice(start)
        }
        if (final && rest.length > 0) {
          const problem = take(rest)
          if (problem !== undefined) return Effect.fail(problem)
          rest = new Uint8Array(0)
        }
        return Effect.succeed(Chunk.unsafeFromArray(docs))
      })
    return fs.stream(path, { chunkSize: FileSystem.MiB(1) }).pipe(
      Stream.mapError((e) => refused(fileProblem(e))),
      Stream.mapChunksEffect((parts) => lines(parts, false)),
      Stream.concat(Stream.unwrap(Effect.map(lines(Chunk.empty(), true), (docs) => Stream.fromChunk(docs)))),
    )
  })
