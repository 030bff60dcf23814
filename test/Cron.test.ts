/**
 * Cron expressions in time zones (issue 10): `nextCron`'s DST policy
 * (docs/architecture.md, "Cron, time zones and DST"), checked against
 * instants worked out by hand from the zones' rules. Pure functions of an
 * instant: no clock is read.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { type CronSpec, nextCron, parseCron } from "../src/scheduler/internal/cron.js"

const spec = (expression: string, timeZone?: string): CronSpec => {
  const parsed = parseCron(expression, timeZone)
  if (Either.isLeft(parsed)) throw new Error(parsed.left)
  return parsed.right
}

/** The next `n` firing instants after `from` (ISO strings). */
const fires = (s: CronSpec, from: string, n: number): Array<string> => {
  const out: Array<string> = []
  let at = Date.parse(from)
  for (let i = 0; i < n; i++) {
    const next = nextCron(s, at)
    if (next === undefined) break
    out.push(new Date(next).toISOString())
    at = next
  }
  return out
}

const HOUR = 3_600_000

/** Whether consecutive instants are exactly `step` ms apart. */
const steps = (instants: ReadonlyArray<string>): Array<number> =>
  instants.slice(1).map((iso, i) => Date.parse(iso) - Date.parse(instants[i]!))

describe("cron in a time zone", () => {
  it("a daily local time in Europe/Berlin: the gap fires once at its end, the repeated time once at its first occurrence", () => {
    const daily = spec("30 2 * * *", "Europe/Berlin")
    // 2026-03-29: 02:00 CET → 03:00 CEST at 01:00Z; 02:30 does not exist
    assert.deepStrictEqual(fires(daily, "2026-03-27T12:00:00Z", 3), [
      "2026-03-28T01:30:00.000Z",
      "2026-03-29T01:00:00.000Z",
      "2026-03-30T00:30:00.000Z"
    ])
    // 2026-10-25: 03:00 CEST → 02:00 CET at 01:00Z; 02:30 happens at 00:30Z and at 01:30Z
    assert.deepStrictEqual(fires(daily, "2026-10-24T12:00:00Z", 2), [
      "2026-10-25T00:30:00.000Z",
      "2026-10-26T01:30:00.000Z"
    ])
  })

  it("several local times inside one gap fire once, at the gap's end", () => {
    assert.deepStrictEqual(fires(spec("0,30 2 * * *", "Europe/Berlin"), "2026-03-28T12:00:00Z", 2), [
      "2026-03-29T01:00:00.000Z",
      "2026-03-30T00:00:00.000Z"
    ])
  })

  it("hourly and every 30 minutes fire once per real hour / half hour through both transitions (no skip, no double)", () => {
    for (const from of ["2026-03-28T12:00:00Z", "2026-10-24T12:00:00Z"]) {
      const hourly = fires(spec("0 * * * *", "Europe/Berlin"), from, 48)
      assert.strictEqual(hourly[0], from.replace("12:00:00Z", "13:00:00.000Z"))
      assert.deepStrictEqual(steps(hourly), Array(47).fill(HOUR), `hourly from ${from}`)
      const halfHourly = fires(spec("*/30 * * * *", "Europe/Berlin"), from, 96)
      assert.deepStrictEqual(steps(halfHourly), Array(95).fill(HOUR / 2), `half-hourly from ${from}`)
    }
    // the repeated hour fires twice: it is two real hours
    const fallBack = fires(spec("0 * * * *", "Europe/Berlin"), "2026-10-24T23:30:00Z", 3)
    assert.deepStrictEqual(fallBack, [
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T01:00:00.000Z",
      "2026-10-25T02:00:00.000Z"
    ])
  })

  it("America/New_York: the gap at 2:00 and the repeated 1:00 hour", () => {
    // 2026-03-08: 02:00 EST → 03:00 EDT at 07:00Z
    assert.deepStrictEqual(fires(spec("30 2 * * *", "America/New_York"), "2026-03-07T12:00:00Z", 2), [
      "2026-03-08T07:00:00.000Z",
      "2026-03-09T06:30:00.000Z"
    ])
    // 2026-11-01: 02:00 EDT → 01:00 EST at 06:00Z; 01:30 happens at 05:30Z and 06:30Z
    assert.deepStrictEqual(fires(spec("30 1 * * *", "America/New_York"), "2026-10-31T12:00:00Z", 2), [
      "2026-11-01T05:30:00.000Z",
      "2026-11-02T06:30:00.000Z"
    ])
  })

  it("a 30-minute DST shift (Australia/Lord_Howe): a time in the gap fires at the gap's end", () => {
    // 2026-10-04: 02:00 (+10:30) → 02:30 (+11:00) at 2026-10-03T15:30Z
    assert.deepStrictEqual(fires(spec("15 2 * * *", "Australia/Lord_Howe"), "2026-10-02T12:00:00Z", 3), [
      "2026-10-02T15:45:00.000Z",
      "2026-10-03T15:30:00.000Z",
      "2026-10-04T15:15:00.000Z"
    ])
  })

  it("UTC by default; 6 fields fire on seconds; a zone without DST; day-of-week", () => {
    assert.deepStrictEqual(fires(spec("*/15 * * * * *"), "2026-01-01T00:00:07.500Z", 3), [
      "2026-01-01T00:00:15.000Z",
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:00:45.000Z"
    ])
    assert.deepStrictEqual(fires(spec("0 9 * * *", "Asia/Tokyo"), "2026-01-01T00:00:00Z", 2), [
      "2026-01-02T00:00:00.000Z",
      "2026-01-03T00:00:00.000Z"
    ])
    // Mondays 09:00 in Berlin: 2026-03-23 (CET) and 2026-03-30 (CEST)
    assert.deepStrictEqual(fires(spec("0 9 * * 1", "Europe/Berlin"), "2026-03-20T00:00:00Z", 2), [
      "2026-03-23T08:00:00.000Z",
      "2026-03-30T07:00:00.000Z"
    ])
  })

  it("the next firing is strictly after the given instant", () => {
    const hourly = spec("0 * * * *")
    assert.strictEqual(nextCron(hourly, Date.parse("2026-01-01T01:00:00Z")), Date.parse("2026-01-01T02:00:00Z"))
    assert.strictEqual(nextCron(hourly, Date.parse("2026-01-01T00:59:59.999Z")), Date.parse("2026-01-01T01:00:00Z"))
  })

  it("bad input is an error naming what is wrong", () => {
    const left = (expression: string, zone?: string) => {
      const parsed = parseCron(expression, zone)
      return Either.isLeft(parsed) ? parsed.left : "parsed"
    }
    assert.match(left("0 * * * *", "Mars/Olympus"), /unknown time zone "Mars\/Olympus"/)
    assert.match(left("0 * * *"), /invalid cron expression "0 \* \* \*"/)
    assert.match(left("61 * * * *"), /invalid cron expression "61 \* \* \* \*": Expected a value between 0 and 59/)
    assert.match(left("0 0 30 2 *"), /never fires/)
  })
})
