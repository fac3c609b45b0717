import { describe, expect, test } from "bun:test"
import { completeUnit, emptyWatermark } from "../../src/purge/watermark.ts"

describe("low-water mark", () => {
  test("advances in order", () => {
    let w = completeUnit(emptyWatermark, 0, "s0")
    w = completeUnit(w, 1, "s1")
    expect(w.checkpoint).toBe("s1")
    expect(w.next).toBe(2)
  })

  test("a later unit finishing first does not move the checkpoint past an unfinished earlier one", () => {
    let w = completeUnit(emptyWatermark, 0, "s0")
    w = completeUnit(w, 2, "s2")
    w = completeUnit(w, 3, "s3")
    expect(w.checkpoint).toBe("s0")
    w = completeUnit(w, 1, "s1")
    expect(w.checkpoint).toBe("s3")
    expect(w.ahead.size).toBe(0)
  })

  test("a unit that never finishes holds the checkpoint before it forever", () => {
    let w = emptyWatermark
    for (let i = 1; i < 50; i++) w = completeUnit(w, i, `s${i}`)
    expect(w.checkpoint).toBeUndefined()
    expect(w.ahead.size).toBe(49)
  })

  test("completing a unit twice changes nothing", () => {
    const w = completeUnit(completeUnit(emptyWatermark, 0, "s0"), 0, "other")
    expect(w.checkpoint).toBe("s0")
  })
})
