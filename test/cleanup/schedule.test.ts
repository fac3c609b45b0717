import { describe, expect, test } from "bun:test"
import { Either } from "effect"
import { cron } from "../../src/cleanup/schedule.ts"

const messageOf = (expression: string) =>
  Either.match(cron(expression), { onLeft: (e) => e.message, onRight: () => "accepted" })

describe("--cron", () => {
  test("five fields that fire are accepted, a leap day included", () => {
    expect(messageOf("0 * * * *")).toBe("accepted")
    expect(messageOf("0 0 29 2 *")).toBe("accepted")
  })

  test("a date that never comes is refused: it would fail when the next run is computed", () => {
    expect(messageOf("0 0 30 2 *")).toContain("never fires")
    expect(messageOf("0 0 31 4 *")).toContain("never fires")
  })

  test("six fields (seconds first) are refused: the README offers five", () => {
    const message = messageOf("0 0 * * * *")
    expect(message).toContain("--cron")
    expect(message).toContain("five fields")
  })
})
