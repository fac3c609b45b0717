/** `dbsweep --completions bash|zsh|fish`: each script is produced, and bash's completes commands. */
import { afterAll, describe, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBinary } from "../support/binary.ts"

const dir = mkdtempSync(join(tmpdir(), "dbsweep-completions-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** What bash offers for the words typed so far (the last one being completed), one run of bash. */
const bashCompletes = (script: string, lines: ReadonlyArray<ReadonlyArray<string>>) => {
  const file = join(dir, "dbsweep.bash")
  writeFileSync(file, script)
  const driver = [
    `source ${JSON.stringify(file)}`,
    "complete -p dbsweep",
    ...lines.map((words) => {
      const quoted = words.map((w) => JSON.stringify(w)).join(" ")
      return `COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _dbsweep_bash_completions dbsweep; echo "\${COMPREPLY[*]}"`
    }),
  ].join("\n")
  const r = Bun.spawnSync(["bash", "--norc", "--noprofile", "-c", driver], { stdout: "pipe", stderr: "pipe" })
  expect(r.stderr.toString()).toBe("")
  return r.stdout.toString().trimEnd().split("\n")
}

describe("--completions", () => {
  test("bash: installs a completion for dbsweep that completes commands at every level", async () => {
    const r = await runBinary(["--completions", "bash"])
    expect(r.code).toBe(0)
    const [spec, top, partial, couch, views, flags] = bashCompletes(r.stdout, [
      ["dbsweep", ""],
      ["dbsweep", "cou"],
      ["dbsweep", "couch", ""],
      ["dbsweep", "couch", "views", ""],
      ["dbsweep", "purge", "--dry"],
    ])
    expect(spec).toContain("-F _dbsweep_bash_completions")
    expect(spec!.endsWith(" dbsweep")).toBe(true)
    for (const name of ["purge", "docs", "cleanup", "couch", "serve"]) expect(top!.split(" ")).toContain(name)
    expect(partial).toBe("couch")
    for (const name of ["info", "compact", "replicate", "views"]) expect(couch!.split(" ")).toContain(name)
    expect(views!.split(" ")).toContain("ensure")
    expect(flags).toBe("--dry-run")
  })

  test("zsh and fish: a script naming every command", async () => {
    const [zsh, fish] = await Promise.all([
      runBinary(["--completions", "zsh"]),
      runBinary(["--completions", "fish"]),
    ])
    expect(zsh.code).toBe(0)
    expect(zsh.stdout.startsWith("#compdef dbsweep")).toBe(true)
    expect(fish.code).toBe(0)
    expect(fish.stdout).toContain("complete -c dbsweep")
    for (const name of ["purge", "docs", "cleanup", "couch", "serve", "migrate", "ensure"]) {
      expect(zsh.stdout).toContain(`'${name}:`)
      expect(fish.stdout).toContain(`"${name}"`)
    }
  })
})
