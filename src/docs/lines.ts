import { FileSystem } from "@effect/platform"
import { Chunk, Effect, Either, Stream } from "effect"
import { fileProblem } from "../shared/files.ts"
import { StoreUnavailable } from "./errors.ts"
import type { Doc } from "./store.ts"

/**
 * The documents of a newline-delimited file, streamed a MiB at a time: each MiB is split into
 * lines and decoded by plain code in one effect. An effect (or a stream element) per line is what
 * made a 50,000-line file cost seconds of CPU. `decode` turns one non-empty line (numbered from 1)
 * into the documents it holds, or says why it is not a line of this format; blank lines are skipped.
 */
export const streamLines = (
  fs: FileSystem.FileSystem,
  path: string,
  store: string,
  decode: (line: string, lineNo: number) => Either.Either<ReadonlyArray<Doc>, string>,
): Stream.Stream<Doc, StoreUnavailable> =>
  Stream.suspend(() => {
    const text = new TextDecoder()
    let rest = ""
    let lineNo = 0
    const refused = (reason: string) => new StoreUnavailable({ store, reason, retryable: false })
    /** Decodes the complete lines of `rest` + `bytes` (all of it when `final`), keeping the tail. */
    const lines = (bytes: Chunk.Chunk<Uint8Array>, final: boolean) =>
      Effect.suspend(() => {
        let buffer = rest
        for (const part of bytes) buffer += text.decode(part, { stream: true })
        if (final) buffer += `${text.decode()}\n`
        const docs: Array<Doc> = []
        let start = 0
        for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n", start)) {
          const line = buffer.slice(start, end)
          start = end + 1
          lineNo += 1
          if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === "")) continue
          const decoded = decode(line, lineNo)
          if (Either.isLeft(decoded)) return Effect.fail(refused(decoded.left))
          for (const doc of decoded.right) docs.push(doc)
        }
        rest = buffer.slice(start)
        return Effect.succeed(Chunk.unsafeFromArray(docs))
      })
    return fs.stream(path, { chunkSize: FileSystem.MiB(1) }).pipe(
      Stream.mapError((e) => refused(fileProblem(e))),
      Stream.mapChunksEffect((bytes) => lines(bytes, false)),
      Stream.concat(Stream.unwrap(Effect.map(lines(Chunk.empty(), true), (docs) => Stream.fromChunk(docs)))),
    )
  })
