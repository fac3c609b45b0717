/**
 * Runs `bun test` and ends with one line `N passed, N failed` (the line CI reads), keeping
 * bun's own output and exit code.
 */
const proc = Bun.spawn([process.execPath, "test", "--timeout", "60000", ...process.argv.slice(2)], {
  stdout: "inherit",
  stderr: "pipe",
  env: process.env,
})
let text = ""
const decoder = new TextDecoder()
const reader = proc.stderr.getReader()
for (let r = await reader.read(); !r.done; r = await reader.read()) {
  process.stderr.write(r.value)
  text += decoder.decode(r.value, { stream: true })
  if (text.length > 1_000_000) text = text.slice(-100_000)
}
const code = await proc.exited
const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(text)?.[1] ?? 0)
const passed = count("pass")
const failed = count("fail") + (code !== 0 && count("fail") === 0 ? 1 : 0)
console.log(`${passed} passed, ${failed} failed`)
process.exit(code)

export {}
