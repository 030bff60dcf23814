/**
 * What the scheduler's HTTP API (`SchedulerApi.ts`) computes beyond calling
 * the service: a page of dead letters (keyset paging on (instant, task id)
 * with an opaque cursor, like `tasks`) and the next runs of a schedule.
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { DeadLetter, DeadLetterReason, ScheduleInfo } from "../Scheduler.js"
import { nextCron, parseCron } from "./cron.js"

/** Default and largest page size of the dead letters. @internal */
export const defaultDeadLetterLimit = 100
/** @internal */
export const maxDeadLetterLimit = 1000

/** Default and largest number of next runs listed per schedule. @internal */
export const defaultNextRuns = 1
/** @internal */
export const maxNextRuns = 100

/** The last instant a task (and the wire) can hold: 9999-12-31T23:59:59.999Z. */
const lastInstant = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** A position in the dead letters' order: when it became a dead letter, then its task id. */
type Position = readonly [atMillis: number, taskId: string]

/** The cursor: base64url of the JSON `[epoch ms, task id]`; opaque to callers. */
const Cursor = Schema.compose(
  Schema.StringFromBase64Url,
  Schema.parseJson(Schema.Tuple(Schema.Int, Schema.String))
)
const encodeCursor = Schema.encodeSync(Cursor)
const decodeCursor = Schema.decodeUnknownOption(Cursor)

/** A dead letters query, validated (the limit's range is the schema's). @internal */
export interface DeadLetterQuery {
  readonly source?: string | undefined
  readonly reason?: DeadLetterReason | undefined
  /** Default: {@link defaultDeadLetterLimit}. */
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** A page of dead letters. @internal */
export interface DeadLetterPage {
  readonly deadLetters: ReadonlyArray<DeadLetter>
  readonly nextCursor: Option.Option<string>
}

const positionOf = (letter: DeadLetter): Position => [DateTime.toEpochMillis(letter.at), letter.task.id]

const compare = (a: Position, b: Position): number =>
  a[0] !== b[0] ? a[0] - b[0] : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0

/**
 * The page of `letters` that `query` asks for, oldest first — by the instant
 * each became a dead letter, then by task id (one dead letter per task id,
 * so the order is total) — and the cursor of the next page if there are
 * more. A page is a snapshot; a dead letter added later is newer than every
 * listed one, so it comes on a later page, and one removed is skipped.
 * Left: the cursor is not one a page returned. @internal
 */
export const pageDeadLetters = (
  letters: ReadonlyArray<DeadLetter>,
  query: DeadLetterQuery
): Either.Either<DeadLetterPage, string> => {
  let after: Position | undefined
  if (query.cursor !== undefined) {
    const decoded = decodeCursor(query.cursor)
    if (Option.isNone(decoded)) return Either.left("it is not a next_cursor returned by a previous page")
    after = decoded.value
  }
  const limit = query.limit ?? defaultDeadLetterLimit
  const selected = letters
    .filter((letter) =>
      (query.source === undefined || letter.task.source === query.source) &&
      (query.reason === undefined || letter.reason === query.reason) &&
      (after === undefined || compare(positionOf(letter), after) > 0)
    )
    .sort((a, b) => compare(positionOf(a), positionOf(b)))
  const page = selected.slice(0, limit)
  const last = page[page.length - 1]
  return Either.right({
    deadLetters: page,
    nextCursor: selected.length > limit && last !== undefined
      ? Option.some(encodeCursor(positionOf(last)))
      : Option.none()
  })
}

/**
 * The schedule's next `count` occurrences: its `nextRun` (past while its
 * source is paused or the scheduler is stopped) and the occurrences of its
 * timing after it — `every` steps, or the cron expression in its time zone
 * (with the DST rules of `schedule`). Fewer when the expression has no more
 * (or they lie beyond year 9999). @internal
 */
export const nextRuns = (info: ScheduleInfo, count: number): ReadonlyArray<DateTime.Utc> => {
  const first = DateTime.toEpochMillis(info.nextRun)
  const runs: Array<number> = [first]
  const next: ((after: number) => number | undefined) | undefined = info.every !== undefined
    ? ((step) => (after: number) => after + step)(Duration.toMillis(info.every))
    : info.cron !== undefined
    ? Either.match(parseCron(info.cron, info.timeZone), {
      onLeft: () => undefined,
      onRight: (spec) => (after: number) => nextCron(spec, after)
    })
    : undefined
  while (next !== undefined && runs.length < count) {
    const at = next(runs[runs.length - 1]!)
    if (at === undefined || !Number.isFinite(at) || at > lastInstant) break
    runs.push(at)
  }
  return runs.map((at) => DateTime.unsafeMake(at))
}
