// Builds dbsweep's single executables.
//   bun scripts/build.ts            dist/dbsweep for this machine (what `make build` runs)
//   bun scripts/build.ts --release  dist/release/dbsweep-<os>-<arch>[.exe] for five targets, and SHA256SUMS
//   bun scripts/build.ts --node     dist/node/dbsweep.mjs: src/node.ts bundled for Node (20 and later)
//
// Each binary has the version, the git commit, its target and the recorded help texts defined in
// (see src/cli/quick.ts). Other targets are compiled offline against the Bun runtime in the
// matching `@oven/bun-*` npm package, fetched once with `npm pack` into .cache/bun-runtimes and
// checked against the integrity the lock file records.
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { recordHelp } from "./help-texts.ts"
import { signAdHoc, signatureProblem } from "./macho.ts"

const root = join(import.meta.dir, "..")
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; integrity?: string }>
}

export interface Target {
  /** The name in the file name and in `--version`: `linux-x64`. */
  readonly name: string
  /** Bun's compile target. */
  readonly bun: string
  /** The npm package holding that target's Bun runtime. */
  readonly runtime: string
  readonly exe: string
}

export const targets: ReadonlyArray<Target> = [
  { name: "linux-x64", bun: "bun-linux-x64", runtime: "@oven/bun-linux-x64", exe: "" },
  { name: "linux-arm64", bun: "bun-linux-arm64", runtime: "@oven/bun-linux-aarch64", exe: "" },
  { name: "darwin-x64", bun: "bun-darwin-x64", runtime: "@oven/bun-darwin-x64", exe: "" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", runtime: "@oven/bun-darwin-aarch64", exe: "" },
  { name: "windows-x64", bun: "bun-windows-x64", runtime: "@oven/bun-windows-x64", exe: ".exe" },
]

const fail = (message: string): never => {
  console.error(`build: ${message}`)
  process.exit(1)
}

const run = (cmd: ReadonlyArray<string>, cwd = root) => {
  const r = Bun.spawnSync([...cmd], { cwd, stdout: "pipe", stderr: "pipe" })
  return { ok: r.exitCode === 0, out: r.stdout.toString().trim(), err: r.stderr.toString().trim() }
}

/** The commit checked out, `-dirty` when tracked files were changed; `unknown` outside git. */
const gitCommit = () => {
  const head = run(["git", "rev-parse", "--short=12", "HEAD"])
  if (!head.ok) return "unknown"
  const dirty = run(["git", "status", "--porcelain", "--untracked-files=no"])
  return dirty.ok && dirty.out !== "" ? `${head.out}-dirty` : head.out
}

/** The Bun that compiles must be the Bun of every runtime (the bytecode is version-bound). */
const bunVersion = lock.packages["node_modules/bun"]?.version ?? fail("package-lock.json has no bun")
if (Bun.version !== bunVersion) {
  fail(`this is Bun ${Bun.version} but the lock has ${bunVersion}: run it as node_modules/.bin/bun`)
}

const cache = join(root, ".cache", "bun-runtimes")

/** The Bun runtime of `target`: fetched and checked once, then taken from the cache. */
const runtimeOf = (target: Target): string => {
  const dir = join(cache, `${target.name}-${bunVersion}`)
  const binary = join(dir, "package", "bin", `bun${target.exe}`)
  if (existsSync(binary)) return binary
  const integrity =
    lock.packages[`node_modules/${target.runtime}`]?.integrity ??
    fail(`package-lock.json has no integrity for ${target.runtime}`)
  mkdirSync(cache, { recursive: true })
  console.error(`build: fetching ${target.runtime}@${bunVersion} (npm pack)`)
  const pack = run(["npm", "pack", `${target.runtime}@${bunVersion}`, "--pack-destination", cache, "--json"])
  if (!pack.ok) fail(`npm pack ${target.runtime}@${bunVersion} failed: ${pack.err.split("\n").at(-1)}`)
  const tarball = join(cache, (JSON.parse(pack.out) as Array<{ filename: string }>)[0]!.filename)
  const [algorithm, expected] = integrity.split("-", 2) as [string, string]
  const actual = createHash(algorithm).update(readFileSync(tarball)).digest("base64")
  if (actual !== expected) {
    rmSync(tarball)
    fail(`${basename(tarball)} does not match the integrity in package-lock.json: not used`)
  }
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const untar = run(["tar", "-xzf", tarball, "-C", dir])
  rmSync(tarball)
  if (!untar.ok || !existsSync(binary)) fail(`could not unpack ${target.runtime}: ${untar.err}`)
  return binary
}

/** The JIT policy the binary starts with (see `Bun.unsafe.setJITPolicy`): 100× the tier-up thresholds. */
const cliJitPolicy = 100

const compile = async (options: {
  outfile: string
  targetName: string
  commit: string
  help: string
  target?: Target
}) => {
  // Bun adds .exe to a Windows file name that lacks it: keep the name, change the folder's entry.
  const temp = join(dirname(options.outfile), `.partial-${basename(options.outfile)}`)
  const result = await Bun.build({
    // The job worker `dbsweep serve` starts (src/main.ts) is an entry point of its own in the binary.
    entrypoints: [join(root, "src", "main.ts"), join(root, "src", "http", "job-worker.ts")],
    minify: true,
    bytecode: true,
    define: {
      DBSWEEP_VERSION: JSON.stringify(pkg.version),
      DBSWEEP_COMMIT: JSON.stringify(options.commit),
      DBSWEEP_TARGET: JSON.stringify(options.targetName),
      DBSWEEP_HELP: JSON.stringify(options.help),
      DBSWEEP_JOB_WORKER: JSON.stringify("./http/job-worker.ts"),
    },
    compile: {
      ...(options.target === undefined
        ? {}
        : {
            target: options.target.bun as Bun.Build.CompileTarget,
            executablePath: runtimeOf(options.target),
          }),
      outfile: temp,
      autoloadDotenv: false,
      autoloadBunfig: false,
      // JavaScriptCore compiles a function once it has run often enough; this scales those
      // thresholds. A CLI run is short and mostly run-once code (the CLI, the layers, a few hundred
      // requests), so compiling it cost more than it saved: a 20,000-tombstone purge on a real
      // CouchDB spent about 0.1 s in the JIT's thread alone. `serve` sets the normal policy back
      // (src/main.ts): a long-running server gains from compiled code.
      jitPolicy: cliJitPolicy,
    },
  })
  if (!result.success) fail(`compiling for ${options.targetName} failed:\n${result.logs.join("\n")}`)
  if (options.targetName.startsWith("darwin-")) {
    // A signature that does not cover the file is re-made ad hoc (Bun leaves darwin-x64's stale).
    const file = readFileSync(temp)
    if (signatureProblem(file) !== undefined) writeFileSync(temp, signAdHoc(file, "dbsweep"))
    const problem = signatureProblem(readFileSync(temp))
    if (problem !== undefined) fail(`the ${options.targetName} signature is wrong after signing: ${problem}`)
  }
  renameSync(temp, options.outfile)
}

const hostName = () => {
  const os = { linux: "linux", darwin: "darwin", win32: "windows" }[process.platform as string]
  return `${os ?? process.platform}-${process.arch}`
}

const commit = gitCommit()
const help = process.argv.includes("--node") ? "" : JSON.stringify(await recordHelp())

if (process.argv.includes("--node")) {
  const result = await Bun.build({
    entrypoints: [join(root, "src", "node.ts")],
    target: "node",
    outdir: join(root, "dist", "node"),
    naming: "dbsweep.mjs",
    define: {
      DBSWEEP_VERSION: JSON.stringify(pkg.version),
      DBSWEEP_COMMIT: JSON.stringify(commit),
      DBSWEEP_TARGET: JSON.stringify("node"),
    },
  })
  if (!result.success) fail(`bundling for Node failed:\n${result.logs.join("\n")}`)
} else if (process.argv.includes("--release")) {
  const out = join(root, "dist", "release")
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const sums: Array<string> = []
  for (const target of targets) {
    const file = `dbsweep-${target.name}${target.exe}`
    await compile({ outfile: join(out, file), targetName: target.name, commit, help, target })
    const sum = createHash("sha256")
      .update(readFileSync(join(out, file)))
      .digest("hex")
    sums.push(`${sum}  ${file}\n`)
    console.error(`build: dist/release/${file}`)
  }
  writeFileSync(join(out, "SHA256SUMS"), sums.join(""))
} else {
  mkdirSync(join(root, "dist"), { recursive: true })
  await compile({ outfile: join(root, "dist", "dbsweep"), targetName: hostName(), commit, help })
}
