// Fixes two bugs of @effect/cli 0.77.2 in node_modules (run by npm after install, and by the build).
// Plain Node, no dependencies; safe to run again: a file already fixed is left as it is.
//
// 1. Help: a command two levels down was listed with its parent's words twice
//    (`couch couch views ensure`): the children of a nested group were given the group's
//    usage, which already starts with the words before it, after those same words.
// 2. Bash completion stopped below the first subcommand (`dbsweep couch views <TAB>` offered
//    nothing): the case that moves from `couch` to `couch views` was written `dbsweep,couch,views`
//    while the word being matched is `dbsweep__couch,views`.
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const cli = join(root, "node_modules", "@effect", "cli")

const fixes = [
  {
    what: "nested subcommands in help",
    before: "getUsage(child, Arr.append(preceding, usage))",
    after: "getUsage(child, Arr.of(usage))",
  },
  {
    what: "bash completion below the first subcommand",
    before: 'const caseName = Arr.join(preformatted, ",");',
    after:
      'const caseName = preformatted.length < 3 ? Arr.join(preformatted, ",") : ' +
      'Arr.join(preformatted.slice(0, -1), "__") + "," + preformatted[preformatted.length - 1];',
  },
]

let version
try {
  version = JSON.parse(readFileSync(join(cli, "package.json"), "utf8")).version
} catch {
  process.exit(0) // not installed (yet): nothing to fix
}
if (version !== "0.77.2") {
  console.error(
    `patch-deps: @effect/cli is ${version}, not 0.77.2: check whether its two bugs are fixed, then update this script`,
  )
  process.exit(1)
}

for (const flavour of ["esm", "cjs"]) {
  const file = join(cli, "dist", flavour, "internal", "commandDescriptor.js")
  let text = readFileSync(file, "utf8")
  for (const fix of fixes) {
    if (text.includes(fix.after)) continue
    if (!text.includes(fix.before)) {
      console.error(`patch-deps: ${file} does not hold the code for "${fix.what}": was @effect/cli changed?`)
      process.exit(1)
    }
    text = text.replace(fix.before, fix.after)
  }
  writeFileSync(file, text)
}
