/**
 * Strict ISO-8601 / RFC 3339 date-time parsing.
 *
 * `new Date(string)` is lenient (it accepts "March 5 2024", rolls 2024-02-30
 * over to March 1st, and reads an offset-less date-time in the *process*
 * time zone). Task timestamps must mean the same instant on every machine, so
 * this parser accepts only ISO-8601 calendar date-times, checks every field
 * and reads a timestamp without an offset as UTC.
 *
 * @internal
 */

/**
 * The earliest instant a task can have: 0000-01-01T00:00:00.000Z. ISO-8601
 * (and `DateTime.formatIso`) writes years outside 0000-9999 as expanded
 * years (`+010000-01-01...`), which this parser does not accept, so the
 * representable range is limited to four-digit years.
 *
 * @internal
 */
export const MIN_EPOCH_MILLIS = -62_167_219_200_000

/**
 * The latest instant a task can have: 9999-12-31T23:59:59.999Z.
 *
 * @internal
 */
export const MAX_EPOCH_MILLIS = 253_402_300_799_999

/**
 * The representable range, for messages.
 *
 * @internal
 */
export const RANGE_TEXT = "0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z"

/**
 * Whether epoch milliseconds are a whole millisecond within
 * {@link MIN_EPOCH_MILLIS} .. {@link MAX_EPOCH_MILLIS}.
 *
 * @internal
 */
export const isRepresentable = (millis: number): boolean =>
  Number.isInteger(millis) && millis >= MIN_EPOCH_MILLIS && millis <= MAX_EPOCH_MILLIS

const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$/

const daysInMonth = (year: number, month: number): number => {
  const date = new Date(0)
  date.setUTCFullYear(year, month, 0)
  return date.getUTCDate()
}

/**
 * Returns the epoch milliseconds of an ISO-8601 date-time, or a message
 * saying what is wrong with it.
 *
 * @internal
 */
export const parseIsoDateTime = (input: string): number | string => {
  const m = ISO_PATTERN.exec(input.trim())
  if (m === null) {
    return "expected an ISO-8601 date-time such as 2024-05-01T12:00:00Z or 2024-05-01T20:00:00+08:00 (no offset means UTC)"
  }
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = m[4] === undefined ? 0 : Number(m[4])
  const minute = m[5] === undefined ? 0 : Number(m[5])
  const second = m[6] === undefined ? 0 : Number(m[6])
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000)
  if (month < 1 || month > 12) return `month ${m[2]} is out of range 01-12`
  if (day < 1 || day > daysInMonth(year, month)) return `day ${m[3]} does not exist in ${m[1]}-${m[2]}`
  if (hour > 23) return `hour ${m[4]} is out of range 00-23`
  if (minute > 59) return `minute ${m[5]} is out of range 00-59`
  if (second > 59) return `second ${m[6]} is out of range 00-59`
  let offsetMinutes = 0
  const zone = m[8]
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1
    const digits = zone.slice(1).replace(":", "")
    const oh = Number(digits.slice(0, 2))
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0
    if (oh > 23 || om > 59) return `offset ${zone} is out of range`
    offsetMinutes = sign * (oh * 60 + om)
  }
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, millis)
  const utc = date.getTime() - offsetMinutes * 60_000
  if (!isRepresentable(utc)) return `the instant is out of range (${RANGE_TEXT})`
  return utc
}
