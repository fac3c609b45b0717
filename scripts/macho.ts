// Ad hoc code signatures of 64-bit Mach-O executables, written and checked without Apple's tools.
//
// Bun 1.4.5 signs its darwin-arm64 executables ad hoc, but leaves darwin-x64 ones with the
// runtime's own signature, which no longer covers the file once the program is added (macOS
// would refuse the pages it does not match). The release re-signs those ad hoc, as `codesign -s -`
// does: a CodeDirectory of SHA-256 page hashes over everything before the signature, and an empty
// requirement set.

const LC_SEGMENT_64 = 0x19
const LC_CODE_SIGNATURE = 0x1d
const MH_MAGIC_64 = 0xfeedfacf
const SUPERBLOB = 0xfade0cc0
const CODEDIRECTORY = 0xfade0c02
const REQUIREMENTS = 0xfade0c01
const PAGE = 4096

interface Layout {
  /** Offset of the LC_CODE_SIGNATURE command, and the signature's place in the file. */
  readonly signatureCommand: number
  readonly dataoff: number
  readonly datasize: number
  /** Offset of the __LINKEDIT segment command. */
  readonly linkedit: number
  readonly textFileoff: bigint
  readonly textFilesize: bigint
}

const layoutOf = (file: Buffer): Layout => {
  if (file.readUInt32LE(0) !== MH_MAGIC_64) throw new Error("not a 64-bit Mach-O file")
  const ncmds = file.readUInt32LE(16)
  let offset = 32
  let signatureCommand = -1
  let linkedit = -1
  let textFileoff = 0n
  let textFilesize = 0n
  for (let i = 0; i < ncmds; i++) {
    const cmd = file.readUInt32LE(offset)
    if (cmd === LC_CODE_SIGNATURE) signatureCommand = offset
    if (cmd === LC_SEGMENT_64) {
      const name = file.toString("latin1", offset + 8, offset + 24).replace(/\0+$/, "")
      if (name === "__LINKEDIT") linkedit = offset
      if (name === "__TEXT") {
        textFileoff = file.readBigUInt64LE(offset + 40)
        textFilesize = file.readBigUInt64LE(offset + 48)
      }
    }
    offset += file.readUInt32LE(offset + 4)
  }
  if (signatureCommand < 0 || linkedit < 0) throw new Error("no code signature or __LINKEDIT segment")
  return {
    signatureCommand,
    dataoff: file.readUInt32LE(signatureCommand + 8),
    datasize: file.readUInt32LE(signatureCommand + 12),
    linkedit,
    textFileoff,
    textFilesize,
  }
}

const sha256 = (data: Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest()

/** Page hashes of `file` up to `limit`. */
const pageHashes = (file: Buffer, limit: number) => {
  const pages = Math.ceil(limit / PAGE)
  const out = Buffer.alloc(pages * 32)
  for (let i = 0; i < pages; i++) {
    sha256(file.subarray(i * PAGE, Math.min((i + 1) * PAGE, limit))).copy(out, i * 32)
  }
  return out
}

/** Returns `file` signed ad hoc under `identifier` (the signature replaces the old one). */
export const signAdHoc = (input: Buffer, identifier: string): Buffer => {
  const layout = layoutOf(input)
  const codeLimit = layout.dataoff
  const requirements = Buffer.alloc(12)
  requirements.writeUInt32BE(REQUIREMENTS, 0)
  requirements.writeUInt32BE(12, 4)
  requirements.writeUInt32BE(0, 8)

  const ident = Buffer.from(`${identifier}\0`, "latin1")
  const specialSlots = 2 // 1: Info.plist (none), 2: requirements
  const headerSize = 88 // CodeDirectory version 0x20400
  const hashOffset = headerSize + ident.length + specialSlots * 32
  const codeSlots = Math.ceil(codeLimit / PAGE)
  const cdLength = hashOffset + codeSlots * 32
  const superLength = 12 + 2 * 8 + cdLength + requirements.length
  const datasize = Math.ceil(superLength / 16) * 16

  // The load commands are hashed too: fix the sizes first.
  const file = Buffer.alloc(codeLimit + datasize)
  input.copy(file, 0, 0, codeLimit)
  file.writeUInt32LE(datasize, layout.signatureCommand + 12)
  const linkeditFileoff = Number(file.readBigUInt64LE(layout.linkedit + 40))
  const filesize = codeLimit + datasize - linkeditFileoff
  file.writeBigUInt64LE(BigInt(filesize), layout.linkedit + 48)
  const vmsize = BigInt(Math.ceil(filesize / 0x4000) * 0x4000)
  if (file.readBigUInt64LE(layout.linkedit + 32) < vmsize) file.writeBigUInt64LE(vmsize, layout.linkedit + 32)

  const cd = Buffer.alloc(cdLength)
  cd.writeUInt32BE(CODEDIRECTORY, 0)
  cd.writeUInt32BE(cdLength, 4)
  cd.writeUInt32BE(0x20400, 8)
  cd.writeUInt32BE(0x2, 12) // adhoc
  cd.writeUInt32BE(hashOffset, 16)
  cd.writeUInt32BE(headerSize, 20)
  cd.writeUInt32BE(specialSlots, 24)
  cd.writeUInt32BE(codeSlots, 28)
  cd.writeUInt32BE(codeLimit, 32)
  cd.writeUInt8(32, 36) // hash size
  cd.writeUInt8(2, 37) // SHA-256
  cd.writeUInt8(0, 38)
  cd.writeUInt8(12, 39) // 4 KiB pages
  cd.writeBigUInt64BE(layout.textFileoff, 64) // execSegBase (after spare2, scatter, team, spare3, codeLimit64)
  cd.writeBigUInt64BE(layout.textFilesize, 72)
  cd.writeBigUInt64BE(1n, 80) // main binary
  ident.copy(cd, headerSize)
  sha256(requirements).copy(cd, hashOffset - 2 * 32)
  pageHashes(file, codeLimit).copy(cd, hashOffset)

  const sig = file.subarray(codeLimit)
  sig.writeUInt32BE(SUPERBLOB, 0)
  sig.writeUInt32BE(superLength, 4)
  sig.writeUInt32BE(2, 8)
  sig.writeUInt32BE(0, 12) // CodeDirectory slot
  sig.writeUInt32BE(28, 16)
  sig.writeUInt32BE(2, 20) // requirements slot
  sig.writeUInt32BE(28 + cdLength, 24)
  cd.copy(sig, 28)
  requirements.copy(sig, 28 + cdLength)
  return file
}

/**
 * Why `file`'s signature does not hold, or undefined when it covers everything before it and each
 * page hash matches.
 */
export const signatureProblem = (file: Buffer): string | undefined => {
  const layout = layoutOf(file)
  const blob = file.subarray(layout.dataoff, layout.dataoff + layout.datasize)
  if (blob.readUInt32BE(0) !== SUPERBLOB) return "no signature blob"
  const count = blob.readUInt32BE(8)
  for (let i = 0; i < count; i++) {
    const at = blob.readUInt32BE(12 + i * 8 + 4)
    if (blob.readUInt32BE(at) !== CODEDIRECTORY) continue
    const cd = blob.subarray(at)
    const hashOffset = cd.readUInt32BE(16)
    const codeSlots = cd.readUInt32BE(28)
    const codeLimit = cd.readUInt32BE(32)
    if (cd.readUInt8(37) !== 2 || cd.readUInt8(39) !== 12) return "not SHA-256 over 4 KiB pages"
    if (codeLimit !== layout.dataoff) return `signs ${codeLimit} bytes, not the ${layout.dataoff} before it`
    const expected = pageHashes(file, codeLimit)
    const actual = cd.subarray(hashOffset, hashOffset + codeSlots * 32)
    if (!expected.equals(actual)) return "page hashes do not match"
    return undefined
  }
  return "no CodeDirectory"
}
