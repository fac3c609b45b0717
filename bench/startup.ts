/**
 * Start-up: `dbsweep --help`, `--version`, `purge --help` and a command that loads the whole CLI,
 * each paired run by run with a hello-world binary compiled by the same Bun with the same flags
 * (A B A B …, so drift in the machine's speed hits both). Prints the median wall time of each
 * (20 runs by default, `--runs N`), the median of the differences, and the CPU time.
 * Goal (issue "dbsweep light"): `--help`, `--version`, `purge --help` at most 50 ms over hello-world.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { arg, bin, root } from "./support.ts"

const runs = arg("runs", 20)
const dir = join(root, "dist", "bench")
mkdirSync(dir, { recursive: true })
writeFileSync(join(dir, "hello.ts"), 'console.log("hello")\n')
const hello = join(dir, "hello")
const built = Bun.spawnSync(
  [process.execPath, "build", join(dir, "hello.ts"), "--compile", "--minify", "--bytecode"].concat([
    "--no-compile-autoload-dotenv",
    "--no-compile-autoload-bunfig",
    "--outfile",
    hello,
  ]),
  { stdout: "ignore", stderr: "inherit" },
)
if (built.exitCode !== 0) throw new Error("could not build the hello-world binary")

/** Wall milliseconds and CPU milliseconds (user + sys) of one run. */
const once = async (cmd: ReadonlyArray<string>) => {
  const start = performance.now()
  const proc = Bun.spawn([...cmd], {
    env: { PATH: process.env.PATH ?? "" },
    stdout: "ignore",
    stderr: "ignore",
  })
  await proc.exited
  const wall = performance.now() - start
  const usage = proc.resourceUsage()
  const cpu = usage === undefined ? Number.NaN : Number(usage.cpuTime.user + usage.cpuTime.system) / 1000
  return { wall, cpu }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const cases: ReadonlyArray<[string, ReadonlyArray<string>, boolean]> = [
  ["--help", ["--help"], true],
  ["--version", ["--version"], true],
  ["purge --help", ["purge", "--help"], true],
  // Loads the whole CLI and fails at once (no server given): what any real command pays first.
  ["purge (no URL, exit 2)", ["purge", "--db", "x", "--no-env-file"], false],
]

console.log(`start-up vs a hello-world binary from the same Bun, ${runs} paired runs, medians`)
console.log("command                   dbsweep ms  hello ms  difference ms  dbsweep cpu ms  goal")
for (const [name, args, goal] of cases) {
  await once([bin, ...args])
  await once([hello])
  const a: Array<number> = []
  const b: Array<number> = []
  const diff: Array<number> = []
  const cpu: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const x = await once([bin, ...args])
    const y = await once([hello])
    a.push(x.wall)
    b.push(y.wall)
    diff.push(x.wall - y.wall)
    cpu.push(x.cpu)
  }
  const d = median(diff)
  const verdict = goal ? (d <= 50 ? "<= +50 ms: met" : "<= +50 ms: NOT met") : ""
  console.log(
    `${name.padEnd(26)}${median(a).toFixed(1).padStart(10)}${median(b).toFixed(1).padStart(10)}` +
      `${`+${d.toFixed(1)}`.padStart(15)}${median(cpu).toFixed(1).padStart(16)}  ${verdict}`,
  )
}
