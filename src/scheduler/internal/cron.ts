/**
 * Cron expressions evaluated in an IANA time zone, with the DST policy of
 * docs/architecture.md ("Cron, time zones and DST"). Effect's `Cron` parses
 * the expression and steps through *local* wall-clock times (it is evaluated
 * in UTC over "naive" local times, where no DST exists); this module maps each
 * local time to real instants itself, because effect 3.22's own zoned stepping
 * gets both transitions wrong.
 *
 * @internal
 */
import * as Cron from "effect/Cron"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"

/** A parsed cron expression with its time zone. @internal */
export interface CronSpec {
  /** The expression as given. */
  readonly expression: string
  /** The IANA zone name it is evaluated in. */
  readonly timeZone: string
  /** The fields, over naive local times (parsed with zone UTC). */
  readonly cron: Cron.Cron
  readonly zone: DateTime.TimeZone.Named
  /** The hour field matches every hour: the expression fires every real hour it matches (see `nextCron`). */
  readonly everyHour: boolean
}

/**
 * Parses `expression` (5 fields, or 6 with seconds first) for `timeZone`
 * (default UTC); Left: a message naming what is wrong. An expression that
 * never fires (e.g. `0 0 30 2 *`) is an error too. @internal
 */
export const parseCron = (expression: string, timeZone = "UTC"): Either.Either<CronSpec, string> => {
  const zone = DateTime.zoneMakeNamed(timeZone)
  if (zone._tag === "None") {
    return Either.left(`unknown time zone ${JSON.stringify(timeZone)} (expected an IANA name such as "Europe/Berlin")`)
  }
  const parsed = Cron.parse(expression, "UTC")
  if (Either.isLeft(parsed)) {
    return Either.left(`invalid cron expression ${JSON.stringify(expression)}: ${parsed.left.message}`)
  }
  const cron = parsed.right
  const spec: CronSpec = {
    expression,
    timeZone,
    cron,
    zone: zone.value,
    everyHour: cron.hours.size === 0 || cron.hours.size === 24
  }
  if (nextCron(spec, 0) === undefined) {
    return Either.left(`cron expression ${JSON.stringify(expression)} never fires`)
  }
  return Either.right(spec)
}

const HOUR = 3_600_000
/** Wider than any UTC offset change: offsets read this far either side of a local time bracket it. */
const BRACKET = 14 * HOUR

/** The zone's UTC offset (ms) at `instant`. */
const offsetAt = (zone: DateTime.TimeZone.Named, instant: number): number =>
  DateTime.zonedOffset(DateTime.unsafeMakeZoned(instant, { timeZone: zone }))

/** The next naive local time (ms) after `cursor` that the fields match; undefined: none within Cron's search. */
const nextLocal = (cron: Cron.Cron, cursor: number): number | undefined => {
  try {
    return Cron.next(cron, new Date(cursor)).getTime()
  } catch {
    return undefined
  }
}

/**
 * The instants at which local time `local` (naive ms) occurs in the zone,
 * ascending: one, two (a repeated hour at a fall-back), or none (a gap at a
 * spring-forward); `before`/`after`: the offsets either side.
 */
const instantsOf = (
  zone: DateTime.TimeZone.Named,
  local: number,
  before: number,
  after: number
): Array<number> => {
  const out: Array<number> = []
  // the larger offset gives the earlier instant
  for (const offset of before === after ? [before] : [Math.max(before, after), Math.min(before, after)]) {
    const instant = local - offset
    if (offsetAt(zone, instant) === offset) out.push(instant)
  }
  return out
}

/** The first instant after a spring-forward gap that holds `local`: when the offset becomes `after`. */
const gapEnd = (zone: DateTime.TimeZone.Named, local: number, before: number, after: number): number => {
  // at `local - after` the offset is still `before`; at `local - before` it is `after`: bisect by the second
  let lo = Math.floor((local - after) / 1000)
  let hi = Math.ceil((local - before) / 1000)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (offsetAt(zone, mid * 1000) === after) hi = mid
    else lo = mid
  }
  return hi * 1000
}

/**
 * The first instant strictly after `afterMillis` at which `spec` fires, or
 * undefined if it never does again. The DST policy:
 * - a local time in a spring-forward gap fires once, at the first instant
 *   after the gap (several such times fire once: at the same instant);
 * - a local time that occurs twice at a fall-back fires at its first
 *   occurrence only;
 * - except when the hour field matches every hour (`0 * * * *`,
 *   `*\/30 * * * *`): then the expression fires at every real instant whose
 *   local time matches, which is once per real hour (or half hour, ...)
 *   through both transitions: the repeated hour fires twice (it is two real
 *   hours), the hour that does not exist does not fire (no extra run after
 *   the gap).
 *
 * @internal
 */
export const nextCron = (spec: CronSpec, afterMillis: number): number | undefined => {
  const { cron, zone } = spec
  // a local time L fires at L - offset > afterMillis, so L > afterMillis + the smallest offset around it
  let cursor = afterMillis + Math.min(offsetAt(zone, afterMillis - BRACKET), offsetAt(zone, afterMillis + BRACKET)) - 1
  let best: number | undefined
  for (let i = 0; i < 10_000; i++) {
    const local = nextLocal(cron, cursor)
    if (local === undefined) return best
    const before = offsetAt(zone, local - BRACKET)
    const after = offsetAt(zone, local + BRACKET)
    const instants = instantsOf(zone, local, before, after)
    const fires = spec.everyHour
      ? instants
      : instants.length > 0
      ? [instants[0]!]
      : [gapEnd(zone, local, before, after)]
    for (const instant of fires) {
      if (instant > afterMillis && (best === undefined || instant < best)) best = instant
    }
    // later local times occur at or after `local - max offset`: none can fire before `best` any more
    if (best !== undefined && local - Math.max(before, after) >= best) return best
    cursor = local
  }
  return best
}
