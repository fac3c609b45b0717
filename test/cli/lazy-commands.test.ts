/**
 * The CLI loads the subcommand argv names alone: its tree then holds that subcommand only, and
 * must parse and print exactly as the whole tree does. No server: help only.
 */
import { describe, expect, test } from "bun:test"
import { commandPaths, render, renderWith } from "../../scripts/help-texts.ts"
import { versionToken } from "../../src/cli/quick.ts"
import { cliOf, subcommandOf } from "../../src/cli/run.ts"

describe("subcommandOf", () => {
  test("the first word that is not a flag, when it is a subcommand", () => {
    expect(subcommandOf(["purge", "--db", "orders"])).toBe("purge")
    expect(subcommandOf(["--log-format=json", "cleanup", "--dry-run"])).toBe("cleanup")
    expect(subcommandOf(["docs", "get", "c", "id"])).toBe("docs")
    expect(subcommandOf(["serve"])).toBe("serve")
  })

  test("none for help, the wizard, a mistyped command or a flag's value first: the whole tree loads", () => {
    expect(subcommandOf([])).toBeUndefined()
    expect(subcommandOf(["--help"])).toBeUndefined()
    expect(subcommandOf(["--wizard"])).toBeUndefined()
    expect(subcommandOf(["prune", "--db", "orders"])).toBeUndefined()
    expect(subcommandOf(["--completions", "bash"])).toBeUndefined()
    // Not an own property of the table, though every object has it.
    expect(subcommandOf(["constructor"])).toBeUndefined()
  })
})

describe("a tree of one subcommand", () => {
  test("prints every command's help as the whole tree does", async () => {
    const paths = commandPaths(await render(["--help"]))
    expect(paths.length).toBeGreaterThan(10)
    for (const name of new Set(paths.map((p) => p[0]!))) {
      const only = subcommandOf([name])
      expect(only).toBe(name as typeof only)
      const alone = renderWith(await cliOf(versionToken, only))
      for (const path of paths.filter((p) => p[0] === name)) {
        expect(await alone([...path, "--help"])).toBe(await render([...path, "--help"]))
      }
    }
  })

  test("holds that subcommand alone", async () => {
    const alone = renderWith(await cliOf(versionToken, "purge"))
    expect(commandPaths(await alone(["--help"]))).toEqual([["purge"]])
    expect(commandPaths(await render(["--help"])).map((p) => p[0])).toContain("cleanup")
  })
})
