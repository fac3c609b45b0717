import { FileSystem } from "@effect/platform"
import { Chunk, Effect, Either, Stream } from "effect"
import { fileProblem } from "../shared/files.ts"
import { StoreUnavailable } from "./errors.ts"
import type { Doc } from "./store.ts"

/**
 * The documents of a newline-delimited file, streamed (a MiB read at a time) and decoded a chunk
 * of lines per effect: one effect per line is what makes a 50,000-line file take seconds.
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
    let lineNo = 0
    const decodeChunk = (lines: Chunk.Chunk<string>) => {
      const docs: Array<Doc> = []
      for (const line of lines) {
        lineNo += 1
        if (line.trim() === "") continue
        const decoded = decode(line, lineNo)
        if (Either.isLeft(decoded)) {
          return Effect.fail(new StoreUnavailable({ store, reason: decoded.left, retryable: false }))
        }
        docs.push(...decoded.right)
      }
      return Effect.succeed(Chunk.unsafeFromArray(docs))
    }
    return fs.stream(path, { chunkSize: FileSystem.MiB(1) }).pipe(
      Stream.mapError((e) => new StoreUnavailable({ store, reason: fileProblem(e), retryable: false })),
      Stream.decodeText(),
      Stream.splitLines,
      Stream.mapChunksEffect(decodeChunk),
    )
  })
