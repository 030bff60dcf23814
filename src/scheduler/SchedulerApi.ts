/**
 * `SchedulerApi` — the scheduler's HTTP API, for `@effect/platform`'s
 * `HttpApi`: two groups an application adds to its own API, their handlers
 * (over the {@link Scheduler} service), and a standalone {@link Api} for an
 * application that serves nothing else.
 *
 * - {@link ReadGroup} (`"scheduler"`): `GET /scheduler/tasks` (a page of the
 *   tasks pending or running), `GET /scheduler/tasks/:id`,
 *   `GET /scheduler/sources`, `GET /scheduler/dead-letters` (a page),
 *   `GET /scheduler/schedules`, `GET /scheduler/stats`.
 * - {@link MutationGroup} (`"schedulerMutations"`): `POST` to
 *   `/scheduler/tasks/:id/cancel`, `/scheduler/tasks/:id/reschedule`,
 *   `/scheduler/sources/:source/pause` and `.../resume`,
 *   `/scheduler/dead-letters/:id/replay`, `/scheduler/dead-letters/purge`.
 *
 * Two groups, so that an application protects the mutations with its own
 * middleware without protecting the reads:
 * `.add(SchedulerApi.MutationGroup.middleware(MyAuth))`. Their handlers are
 * {@link layerReads} and {@link layerMutations}, generic over the
 * application's API.
 *
 * On the wire, JSON fields are snake_case (`schedule_at`, `next_cursor`,
 * `in_flight`), instants ISO-8601 (UTC; input with any offset, none meaning
 * UTC), absent values `null`. Request input is decoded with these schemas:
 * a bad query parameter, path segment or body is a 400 whose body names it.
 * See docs/scheduler.md, "HTTP API".
 *
 * @since 0.6.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Counters } from "./internal/counters.js"
import * as internal from "./internal/schedulerApi.js"
import { defaultTaskLimit, maxTaskLimit } from "./internal/taskQuery.js"
import type { DeadLetter, ScheduleInfo, SchedulerService } from "./Scheduler.js"
import { type InvalidTaskQueryError, Scheduler } from "./Scheduler.js"
import { IsoDateTimeUtc, JsonObject, TaskId } from "./Task.js"

// ---- wire schemas ------------------------------------------------------------

/** A value's field under another (snake_case) key on the wire. */
const wire = <Key extends string>(key: Key) => <A, I, R>(schema: Schema.Schema<A, I, R>) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

/** An optional value (`undefined`) as `null` on the wire. */
const NullWhenUndefined = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.transform(Schema.NullOr(schema), Schema.UndefinedOr(Schema.typeSchema(schema)), {
    strict: true,
    decode: (value) => value ?? undefined,
    encode: (value) => value ?? null
  })

const Count = Schema.NonNegativeInt

/** An instant: ISO-8601 on the wire (`Task.IsoDateTimeUtc`). */
const Instant = IsoDateTimeUtc.annotations({
  description: "ISO-8601 instant; written in UTC, read with any offset (none means UTC)"
})

/** A duration as a number of seconds (fractional). */
const Seconds = Schema.transform(Schema.Number, Schema.DurationFromSelf, {
  strict: true,
  decode: Duration.seconds,
  encode: Duration.toSeconds
}).annotations({ description: "seconds" })

/** A duration that may be infinite: seconds, `null` for no limit. */
const SecondsOrUnlimited = Schema.transform(Schema.NullOr(Schema.Number), Schema.DurationFromSelf, {
  strict: true,
  decode: (seconds) => seconds === null ? Duration.infinity : Duration.seconds(seconds),
  encode: (duration) => Duration.isFinite(duration) ? Duration.toSeconds(duration) : null
}).annotations({ description: "seconds; null: no limit" })

const TaskStateLiteral = Schema.Literal("pending", "running")
const DeadLetterReasonLiteral = Schema.Literal("NoConsumer", "Failed", "Died", "Interrupted")

/**
 * A task on the wire: `{ id, source, args, schedule_at }` (the domain side
 * is a `Task`).
 *
 * @since 0.6.0
 * @category schemas
 */
export const TaskBody = Schema.Struct({
  id: TaskId,
  source: Schema.String,
  args: JsonObject,
  scheduleAt: wire("schedule_at")(Instant)
}).annotations({ identifier: "SchedulerTask" })

/**
 * A task pending or running (`TaskInfo`): `{ task, state, due_at, attempt }`.
 *
 * @since 0.6.0
 * @category schemas
 */
export const TaskInfoBody = Schema.Struct({
  task: TaskBody,
  state: TaskStateLiteral,
  dueAt: wire("due_at")(Instant),
  attempt: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))
}).annotations({ identifier: "SchedulerTaskInfo" })

/**
 * `GET /scheduler/tasks`: a page (`TaskPage`) — `{ tasks, next_cursor }`,
 * `next_cursor` `null` on the last page.
 *
 * @since 0.6.0
 * @category schemas
 */
export const TaskPageBody = Schema.Struct({
  tasks: Schema.Array(TaskInfoBody),
  nextCursor: wire("next_cursor")(Schema.OptionFromNullOr(Schema.String))
}).annotations({ identifier: "SchedulerTaskPage" })

/**
 * A dead letter: `{ task, reason, error, attempts, at }`.
 *
 * @since 0.6.0
 * @category schemas
 */
export const DeadLetterBody = Schema.Struct({
  task: TaskBody,
  reason: DeadLetterReasonLiteral,
  error: Schema.String,
  attempts: Count,
  at: Instant
}).annotations({ identifier: "SchedulerDeadLetter" })

/**
 * `GET /scheduler/dead-letters`: a page — `{ dead_letters, next_cursor }`.
 *
 * @since 0.6.0
 * @category schemas
 */
export const DeadLetterPageBody = Schema.Struct({
  deadLetters: wire("dead_letters")(Schema.Array(DeadLetterBody)),
  nextCursor: wire("next_cursor")(Schema.OptionFromNullOr(Schema.String))
}).annotations({ identifier: "SchedulerDeadLetterPage" })

const LatenessBody = Schema.Struct({
  count: Count,
  totalMillis: wire("total_ms")(Schema.NonNegative),
  meanMillis: wire("mean_ms")(Schema.NonNegative),
  maxMillis: wire("max_ms")(Schema.NonNegative)
})

const sourceCounters = {
  submitted: Count,
  started: Count,
  succeeded: Count,
  failed: Count,
  dropped: Count,
  inFlight: wire("in_flight")(Count),
  pending: Count,
  duplicates: Count,
  cancelled: Count,
  retried: Count,
  lateness: LatenessBody
}

/**
 * A source's counters (`SourceStats`), snake_case; lateness in milliseconds.
 *
 * @since 0.6.0
 * @category schemas
 */
export const SourceStatsBody = Schema.Struct(sourceCounters).annotations({ identifier: "SchedulerSourceStats" })

/**
 * `GET /scheduler/stats`: the scheduler's counters (`SchedulerStats`), with
 * `by_source`.
 *
 * @since 0.6.0
 * @category schemas
 */
export const StatsBody = Schema.Struct({
  ...sourceCounters,
  running: Schema.Boolean,
  waiting: Count,
  clockJumps: wire("clock_jumps")(Count),
  deadLetters: wire("dead_letters")(Count),
  nextAt: wire("next_at")(Schema.OptionFromNullOr(Instant)),
  bySource: wire("by_source")(Schema.Record({ key: Schema.String, value: SourceStatsBody }))
}).annotations({ identifier: "SchedulerStats" })

/**
 * `GET /scheduler/sources`: every source the scheduler has counters for or
 * has paused, by name, with whether it is paused.
 *
 * @since 0.6.0
 * @category schemas
 */
export const SourcesBody = Schema.Struct({
  sources: Schema.Array(Schema.Struct({
    source: Schema.String,
    paused: Schema.Boolean,
    stats: SourceStatsBody
  }))
}).annotations({ identifier: "SchedulerSources" })

/**
 * A schedule (`ScheduleInfo`) with its next runs: `every_seconds` or `cron`
 * (the other `null`), `time_zone`, `misfire` (`grace_seconds` `null`: no
 * limit), `next_run`, `next_runs`, `current` and the counters.
 *
 * @since 0.6.0
 * @category schemas
 */
export const ScheduleBody = Schema.Struct({
  id: Schema.String,
  source: Schema.String,
  args: JsonObject,
  cron: NullWhenUndefined(Schema.String),
  every: wire("every_seconds")(NullWhenUndefined(Seconds)),
  timeZone: wire("time_zone")(Schema.String),
  misfire: Schema.Struct({
    policy: Schema.Literal("coalesce", "all", "skip"),
    grace: wire("grace_seconds")(SecondsOrUnlimited)
  }),
  nextRun: wire("next_run")(Instant),
  nextRuns: wire("next_runs")(Schema.Array(Instant)),
  current: NullWhenUndefined(Schema.String),
  runs: Count,
  skippedOverlap: wire("skipped_overlap")(Count),
  skippedMissed: wire("skipped_missed")(Count)
}).annotations({ identifier: "SchedulerSchedule" })

/**
 * `GET /scheduler/schedules`: the declared schedules, by id.
 *
 * @since 0.6.0
 * @category schemas
 */
export const SchedulesBody = Schema.Struct({ schedules: Schema.Array(ScheduleBody) }).annotations({
  identifier: "SchedulerSchedules"
})

/**
 * The body of `POST /scheduler/tasks/:id/reschedule`: `{ "schedule_at": ISO-8601 }`.
 *
 * @since 0.6.0
 * @category schemas
 */
export const RescheduleBody = Schema.Struct({
  scheduleAt: wire("schedule_at")(Instant)
}).annotations({ identifier: "SchedulerReschedule" })

/**
 * `POST /scheduler/dead-letters/purge`: how many dead letters were removed.
 *
 * @since 0.6.0
 * @category schemas
 */
export const PurgeBody = Schema.Struct({ purged: Count }).annotations({ identifier: "SchedulerPurge" })

// ---- request parameters --------------------------------------------------------

/** An integer query parameter from `min` to `max`; its message says so. */
const IntParameter = (min: number, max: number, description: string) =>
  Schema.NumberFromString.pipe(Schema.int(), Schema.between(min, max)).annotations({
    description,
    // also for what is not a number at all (or a repeated parameter, an array)
    message: (issue) => ({
      message: `Expected an integer from ${min} to ${max}, got ${JSON.stringify(issue.actual)}`,
      override: true
    })
  })

/** An optional query parameter: absent, or (not `undefined`) a value of `schema`. */
const optional = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { exact: true })

const NonEmpty = Schema.NonEmptyString

/**
 * The query of `GET /scheduler/tasks`, all optional: `source`, `state`
 * (`pending` or `running`), `due_before` (ISO-8601), `limit` (1..1000,
 * default 100), `cursor` (a page's `next_cursor`).
 *
 * @since 0.6.0
 * @category schemas
 */
export const TasksUrlParams = Schema.Struct({
  source: optional(NonEmpty.annotations({ description: "only the tasks of this source (exact name)" })),
  state: optional(TaskStateLiteral.annotations({ description: "only the pending or the running tasks" })),
  dueBefore: optional(Instant.annotations({ description: "only the tasks due before this ISO-8601 instant" }))
    .pipe(Schema.fromKey("due_before")),
  limit: optional(IntParameter(1, maxTaskLimit, `page size, 1 to ${maxTaskLimit} (default ${defaultTaskLimit})`)),
  cursor: optional(NonEmpty.annotations({ description: "the next_cursor of the previous page" }))
})

/**
 * The query of `GET /scheduler/dead-letters`, all optional: `source`,
 * `reason`, `limit` (1..1000, default 100), `cursor`.
 *
 * @since 0.6.0
 * @category schemas
 */
export const DeadLettersUrlParams = Schema.Struct({
  source: optional(NonEmpty.annotations({ description: "only the dead letters of this source" })),
  reason: optional(DeadLetterReasonLiteral.annotations({ description: "only the dead letters of this reason" })),
  limit: optional(
    IntParameter(
      1,
      internal.maxDeadLetterLimit,
      `page size, 1 to ${internal.maxDeadLetterLimit} (default ${internal.defaultDeadLetterLimit})`
    )
  ),
  cursor: optional(NonEmpty.annotations({ description: "the next_cursor of the previous page" }))
})

/**
 * The query of `GET /scheduler/schedules`: `next`, how many next runs to
 * list per schedule (1..100, default 1).
 *
 * @since 0.6.0
 * @category schemas
 */
export const SchedulesUrlParams = Schema.Struct({
  next: optional(
    IntParameter(
      1,
      internal.maxNextRuns,
      `next runs listed per schedule, 1 to ${internal.maxNextRuns} (default ${internal.defaultNextRuns})`
    )
  )
})

/**
 * The query of `POST /scheduler/dead-letters/purge`: `older_than_seconds`
 * (a number ≥ 0); without it every dead letter is removed.
 *
 * @since 0.6.0
 * @category schemas
 */
export const PurgeUrlParams = Schema.Struct({
  olderThan: optional(
    Schema.transform(
      Schema.NumberFromString.pipe(Schema.finite(), Schema.nonNegative()),
      Schema.DurationFromSelf,
      { strict: true, decode: Duration.seconds, encode: Duration.toSeconds }
    ).annotations({ description: "only the dead letters older than this many seconds (default: all)" })
  ).pipe(Schema.fromKey("older_than_seconds"))
})

const TaskIdPath = Schema.Struct({ id: TaskId })
const SourcePath = Schema.Struct({ source: NonEmpty })

// ---- errors ------------------------------------------------------------------

/**
 * 400: a request the schemas accept but the service does not — a `cursor`
 * that no page returned — or a body that is not JSON. `field` names the
 * query parameter (`cursor`) or `body`. (A value that does not match its
 * schema is the platform's `HttpApiDecodeError`, also a 400, whose `issues`
 * carry the field's `path`.)
 *
 * @since 0.6.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { field: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * 404: no task with this id is pending or running.
 *
 * @since 0.6.0
 * @category errors
 */
export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()(
  "TaskNotFound",
  { id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * 409: the task is running, so it cannot be rescheduled.
 *
 * @since 0.6.0
 * @category errors
 */
export class TaskNotPending extends Schema.TaggedError<TaskNotPending>()(
  "TaskNotPending",
  { id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * 404: no dead letter with this task id.
 *
 * @since 0.6.0
 * @category errors
 */
export class DeadLetterNotFound extends Schema.TaggedError<DeadLetterNotFound>()(
  "DeadLetterNotFound",
  { id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/**
 * 409: a task with the dead letter's id is pending or running, so it is not
 * replayed (the dead letter is kept).
 *
 * @since 0.6.0
 * @category errors
 */
export class TaskIdInUse extends Schema.TaggedError<TaskIdInUse>()(
  "TaskIdInUse",
  { id: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/**
 * 503: the handlers have no scheduler to serve (the `scheduler` option of
 * {@link HandlerOptions} failed with it, e.g. the application runs without
 * one). Never returned with the default option (the `Scheduler` service).
 *
 * @since 0.6.0
 * @category errors
 */
export class SchedulerUnavailable extends Schema.TaggedError<SchedulerUnavailable>()(
  "SchedulerUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

// ---- groups --------------------------------------------------------------------

/**
 * The reads, group `"scheduler"`. Add it to an `HttpApi` and implement it
 * with {@link layerReads}.
 *
 * @since 0.6.0
 * @category groups
 */
export class ReadGroup extends HttpApiGroup.make("scheduler")
  .add(
    HttpApiEndpoint.get("listTasks", "/scheduler/tasks")
      .setUrlParams(TasksUrlParams)
      .addSuccess(TaskPageBody)
      .addError(InvalidRequest)
      .annotate(OpenApi.Summary, "A page of the tasks pending or running")
      .annotate(
        OpenApi.Description,
        "Ordered by due instant (then submission order); `next_cursor` reads the next page (keyset paging, " +
          "give the same filters again). A page is a snapshot."
      )
  )
  .add(
    HttpApiEndpoint.get("getTask", "/scheduler/tasks/:id")
      .setPath(TaskIdPath)
      .addSuccess(TaskInfoBody)
      .addError(TaskNotFound)
      .annotate(OpenApi.Summary, "A task pending or running, by id (URL-encoded)")
  )
  .add(
    HttpApiEndpoint.get("listSources", "/scheduler/sources")
      .addSuccess(SourcesBody)
      .annotate(OpenApi.Summary, "The sources, with their counters and whether they are paused")
  )
  .add(
    HttpApiEndpoint.get("listDeadLetters", "/scheduler/dead-letters")
      .setUrlParams(DeadLettersUrlParams)
      .addSuccess(DeadLetterPageBody)
      .addError(InvalidRequest)
      .annotate(OpenApi.Summary, "A page of the dead letters, oldest first")
      .annotate(
        OpenApi.Description,
        "Ordered by the instant each became a dead letter, then task id; `next_cursor` reads the next page."
      )
  )
  .add(
    HttpApiEndpoint.get("listSchedules", "/scheduler/schedules")
      .setUrlParams(SchedulesUrlParams)
      .addSuccess(SchedulesBody)
      .annotate(OpenApi.Summary, "The recurring schedules, with their next runs")
  )
  .add(
    HttpApiEndpoint.get("stats", "/scheduler/stats")
      .addSuccess(StatsBody)
      .annotate(OpenApi.Summary, "The scheduler's counters, in total and by source")
  )
  .addError(SchedulerUnavailable)
  .annotate(OpenApi.Description, "The scheduler's tasks, sources, dead letters, schedules and counters (read only)")
{}

/**
 * The mutations, group `"schedulerMutations"`: every endpoint is a `POST`.
 * Protect them with the application's middleware:
 * `MutationGroup.middleware(MyAuth)`. Implement it with
 * {@link layerMutations}.
 *
 * @since 0.6.0
 * @category groups
 */
export class MutationGroup extends HttpApiGroup.make("schedulerMutations")
  .add(
    HttpApiEndpoint.post("cancelTask", "/scheduler/tasks/:id/cancel")
      .setPath(TaskIdPath)
      .addError(TaskNotFound)
      .annotate(OpenApi.Summary, "Cancel a task")
      .annotate(
        OpenApi.Description,
        "A pending task is removed; a running one is interrupted (the response comes once its run ended). " +
          "204; 404 when no task with the id is pending or running."
      )
  )
  .add(
    HttpApiEndpoint.post("rescheduleTask", "/scheduler/tasks/:id/reschedule")
      .setPath(TaskIdPath)
      .setPayload(RescheduleBody)
      .addError(InvalidRequest)
      .addError(TaskNotFound)
      .addError(TaskNotPending)
      .annotate(OpenApi.Summary, "Move a pending task to another instant")
      .annotate(
        OpenApi.Description,
        "Body `{ \"schedule_at\": ISO-8601 }`. 204; 404 for an unknown task; 409 for a running one."
      )
  )
  .add(
    HttpApiEndpoint.post("pauseSource", "/scheduler/sources/:source/pause")
      .setPath(SourcePath)
      .annotate(OpenApi.Summary, "Pause a source: its tasks stay pending; its running tasks finish")
  )
  .add(
    HttpApiEndpoint.post("resumeSource", "/scheduler/sources/:source/resume")
      .setPath(SourcePath)
      .annotate(OpenApi.Summary, "Resume a paused source")
  )
  .add(
    HttpApiEndpoint.post("replayDeadLetter", "/scheduler/dead-letters/:id/replay")
      .setPath(TaskIdPath)
      .addError(DeadLetterNotFound)
      .addError(TaskIdInUse)
      .annotate(OpenApi.Summary, "Submit a dead letter's task again, due now")
      .annotate(
        OpenApi.Description,
        "204; 404 when there is no dead letter with this task id; 409 when a task with the id is pending or running."
      )
  )
  .add(
    HttpApiEndpoint.post("purgeDeadLetters", "/scheduler/dead-letters/purge")
      .setUrlParams(PurgeUrlParams)
      .addSuccess(PurgeBody)
      .annotate(OpenApi.Summary, "Remove the dead letters older than `older_than_seconds` (all without it)")
  )
  .addError(SchedulerUnavailable)
  .annotate(OpenApi.Description, "Changes to the scheduler's tasks, sources and dead letters")
{}

/**
 * The scheduler's API alone (both groups, no middleware), for an
 * application that serves nothing else; {@link layer} implements it.
 *
 * @since 0.6.0
 * @category api
 */
export class Api extends HttpApi.make("ray-scheduler")
  .add(ReadGroup)
  .add(MutationGroup)
  .annotate(OpenApi.Title, "RayScheduler")
  .annotate(OpenApi.Description, "The tasks, sources, dead letters and schedules of a RayScheduler")
{}

// ---- handlers ------------------------------------------------------------------

/**
 * Where the handlers get what they serve.
 *
 * @since 0.6.0
 * @category models
 */
export interface HandlerOptions<R> {
  /**
   * The scheduler, looked up at each request; failing with
   * {@link SchedulerUnavailable} answers 503. Without options, the
   * handlers use the {@link Scheduler} service (`R` = `Scheduler`).
   */
  readonly scheduler: Effect.Effect<SchedulerService, SchedulerUnavailable, R>
}

/**
 * The options of {@link layerReads}.
 *
 * @since 0.6.0
 * @category models
 */
export interface ReadOptions<R, RShow> extends HandlerOptions<R> {
  /**
   * How a listed dead letter is shown, e.g. its `error` shortened for some
   * callers (it may run in the context the group's middleware provides).
   * Default: as it is.
   */
  readonly showDeadLetter?: ((letter: DeadLetter) => Effect.Effect<DeadLetter, never, RShow>) | undefined
}

/** An API (`Groups`) that has a group named `Name`; otherwise a type error naming the group. */
type WithGroup<Groups extends HttpApiGroup.HttpApiGroup.Any, Name extends string> =
  [HttpApiGroup.HttpApiGroup.WithName<Groups, Name>] extends [never] ? { readonly "missing group": Name }
    : unknown

/** What a group's handlers layer needs: `R`, less what the group's middleware provides, plus that middleware. */
type GroupRequirements<Groups extends HttpApiGroup.HttpApiGroup.Any, Name extends string, R> =
  | Exclude<R, HttpApiGroup.HttpApiGroup.Provides<HttpApiGroup.HttpApiGroup.WithName<Groups, Name>>>
  | HttpApiGroup.HttpApiGroup.MiddlewareWithName<Groups, Name>

/** The API the handlers are written against: the library's groups, as they are declared here. */
type OwnApi = HttpApi.HttpApi<string, typeof ReadGroup | typeof MutationGroup, HttpApiDecodeError>

/** `tasks`' invalid query as a 400 naming the query parameter. */
const invalidQuery = (error: InvalidTaskQueryError) => {
  const field = error.field === "dueBefore" ? "due_before" : error.field
  const reason = field === "cursor" ? cursorReason : error.reason
  return new InvalidRequest({ field, message: `Invalid query parameter ${field}: ${reason}` })
}

const cursorReason = "it is not a next_cursor returned by a previous page"

const notFound = (id: string) =>
  new TaskNotFound({ id, message: `No task ${JSON.stringify(id)} is pending or running` })

/** The sources: those with counters and those paused, by name. */
const sourcesOf = (scheduler: SchedulerService) =>
  Effect.map(Effect.zip(scheduler.stats, scheduler.paused), ([stats, paused]) => {
    const names = [...new Set([...Object.keys(stats.bySource), ...paused])].sort()
    const none = new Counters().toStats() // a source paused before any task of it
    return {
      sources: names.map((source) => ({
        source,
        paused: paused.has(source),
        stats: stats.bySource[source] ?? none
      }))
    }
  })

/** A schedule with its next `count` runs. */
const scheduleBody = (info: ScheduleInfo, count: number) => ({ ...info, nextRuns: internal.nextRuns(info, count) })

const bodyExample = JSON.stringify({ schedule_at: "2030-01-01T00:00:00Z" })

/** The 400 of a body that could not be read as JSON. */
const unreadableBody = (error: HttpServerError.RequestError) => {
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
  return new InvalidRequest({
    field: "body",
    message: error.reason === "Decode"
      ? `The body is not JSON (expected ${bodyExample})${cause}`
      : `The body could not be read${cause}`
  })
}

const decodeReschedule = Schema.decodeUnknown(RescheduleBody)

const makeReads = <R, RShow>(api: OwnApi, options: ReadOptions<R, RShow>) =>
  HttpApiBuilder.group(api, "scheduler", (handlers) => {
    const get = options.scheduler
    const show = options.showDeadLetter
    return handlers
      .handle(
        "listTasks",
        ({ urlParams }) =>
          Effect.flatMap(get, (scheduler) => Effect.mapError(scheduler.tasks(urlParams), invalidQuery)).pipe(
            Effect.withSpan("SchedulerApi.listTasks")
          )
      )
      .handle("getTask", ({ path }) =>
        Effect.flatMap(get, (scheduler) => scheduler.task(path.id)).pipe(
          Effect.flatMap(Option.match({ onNone: () => Effect.fail(notFound(path.id)), onSome: Effect.succeed })),
          Effect.withSpan("SchedulerApi.getTask")
        ))
      .handle("listSources", () => Effect.flatMap(get, sourcesOf).pipe(Effect.withSpan("SchedulerApi.listSources")))
      .handle("listDeadLetters", ({ urlParams }) =>
        Effect.gen(function*() {
          const scheduler = yield* get
          const page = internal.pageDeadLetters(yield* scheduler.deadLetters, urlParams)
          if (Either.isLeft(page)) {
            return yield* new InvalidRequest({
              field: "cursor",
              message: `Invalid query parameter cursor: ${page.left}`
            })
          }
          return show === undefined ? page.right : {
            ...page.right,
            deadLetters: yield* Effect.forEach(page.right.deadLetters, show)
          }
        }).pipe(Effect.withSpan("SchedulerApi.listDeadLetters")))
      .handle("listSchedules", ({ urlParams }) =>
        Effect.flatMap(get, (scheduler) => scheduler.schedules).pipe(
          Effect.map((schedules) => ({
            schedules: schedules.map((info) => scheduleBody(info, urlParams.next ?? internal.defaultNextRuns))
          })),
          Effect.withSpan("SchedulerApi.listSchedules")
        ))
      .handle(
        "stats",
        () => Effect.flatMap(get, (scheduler) => scheduler.stats).pipe(Effect.withSpan("SchedulerApi.stats"))
      )
  })

const makeMutations = <R>(api: OwnApi, options: HandlerOptions<R>) =>
  HttpApiBuilder.group(api, "schedulerMutations", (handlers) => {
    const get = options.scheduler
    return handlers
      .handle("cancelTask", ({ path }) =>
        Effect.flatMap(get, (scheduler) => scheduler.cancel(path.id)).pipe(
          Effect.flatMap((cancelled) => cancelled ? Effect.void : Effect.fail(notFound(path.id))),
          Effect.withSpan("SchedulerApi.cancelTask")
        ))
      // the body is decoded here, not by the platform, so that a body that is not JSON is a 400 (not a defect)
      .handleRaw("rescheduleTask", ({ path, request }) =>
        Effect.gen(function*() {
          const scheduler = yield* get
          const json = yield* Effect.mapError(request.json, unreadableBody)
          if (json === null) {
            return yield* new InvalidRequest({ field: "body", message: `A JSON body is required: ${bodyExample}` })
          }
          const body = yield* Effect.catchTag(decodeReschedule(json), "ParseError", HttpApiDecodeError.refailParseError)
          if (yield* scheduler.reschedule(path.id, body.scheduleAt)) return
          const info = yield* scheduler.task(path.id)
          return yield* Option.isSome(info) && info.value.state === "running"
            ? new TaskNotPending({
              id: path.id,
              message: `Task ${JSON.stringify(path.id)} is running: it is not moved`
            })
            : notFound(path.id)
        }).pipe(Effect.withSpan("SchedulerApi.rescheduleTask")))
      .handle("pauseSource", ({ path }) =>
        Effect.flatMap(get, (scheduler) => scheduler.pause(path.source)).pipe(
          Effect.withSpan("SchedulerApi.pauseSource")
        ))
      .handle("resumeSource", ({ path }) =>
        Effect.flatMap(get, (scheduler) => scheduler.resume(path.source)).pipe(
          Effect.withSpan("SchedulerApi.resumeSource")
        ))
      .handle("replayDeadLetter", ({ path }) =>
        Effect.gen(function*() {
          const scheduler = yield* get
          const letters = yield* scheduler.deadLetters
          if (!letters.some((letter) => letter.task.id === path.id)) {
            return yield* new DeadLetterNotFound({
              id: path.id,
              message: `No dead letter with task id ${JSON.stringify(path.id)}`
            })
          }
          if (!(yield* scheduler.replay(path.id))) {
            return yield* new TaskIdInUse({
              id: path.id,
              message: `A task with id ${JSON.stringify(path.id)} is pending or running: the dead letter is kept`
            })
          }
        }).pipe(Effect.withSpan("SchedulerApi.replayDeadLetter")))
      .handle(
        "purgeDeadLetters",
        ({ urlParams }) =>
          Effect.flatMap(get, (scheduler) => scheduler.purgeDeadLetters(urlParams.olderThan)).pipe(
            Effect.map((purged) => ({ purged })),
            Effect.withSpan("SchedulerApi.purgeDeadLetters")
          )
      )
  })

const defaults = { scheduler: Scheduler } as const

/**
 * The handlers of {@link ReadGroup} in an application's API, which must
 * contain that group (as it is, or with middleware or a prefix added).
 * The layer needs the `Scheduler` service, or what `options.scheduler`
 * needs, and the group's middleware; `options.showDeadLetter` may use what
 * that middleware provides.
 *
 * ```ts
 * class MyApi extends HttpApi.make("my-app").add(MyGroup)
 *   .add(SchedulerApi.ReadGroup).add(SchedulerApi.MutationGroup.middleware(AdminOnly)) {}
 *
 * const MyApiLive = HttpApiBuilder.api(MyApi).pipe(
 *   Layer.provide(MyGroupLive),
 *   Layer.provide(SchedulerApi.layerReads(MyApi)),     // needs Scheduler
 *   Layer.provide(SchedulerApi.layerMutations(MyApi)), // needs Scheduler | AdminOnly
 *   Layer.provide(AdminOnlyLive)
 * )
 * ```
 *
 * @since 0.6.0
 * @category handlers
 */
export const layerReads = <
  ApiId extends string,
  Groups extends HttpApiGroup.HttpApiGroup.Any,
  ApiE,
  ApiR,
  R = Scheduler,
  RShow = never
>(
  api: HttpApi.HttpApi<ApiId, Groups, ApiE, ApiR> & WithGroup<Groups, "scheduler">,
  options?: ReadOptions<R, RShow>
): Layer.Layer<HttpApiGroup.ApiGroup<ApiId, "scheduler">, never, GroupRequirements<Groups, "scheduler", R | RShow>> =>
  makeReads(
    api as unknown as OwnApi,
    options ?? (defaults as unknown as ReadOptions<R, RShow>)
  ) as unknown as Layer.Layer<
    HttpApiGroup.ApiGroup<ApiId, "scheduler">,
    never,
    GroupRequirements<Groups, "scheduler", R | RShow>
  >

/**
 * The handlers of {@link MutationGroup} in an application's API, which must
 * contain that group (usually with the application's middleware added).
 * The layer needs the `Scheduler` service, or what `options.scheduler`
 * needs, and the group's middleware.
 *
 * @since 0.6.0
 * @category handlers
 */
export const layerMutations = <
  ApiId extends string,
  Groups extends HttpApiGroup.HttpApiGroup.Any,
  ApiE,
  ApiR,
  R = Scheduler
>(
  api: HttpApi.HttpApi<ApiId, Groups, ApiE, ApiR> & WithGroup<Groups, "schedulerMutations">,
  options?: HandlerOptions<R>
): Layer.Layer<
  HttpApiGroup.ApiGroup<ApiId, "schedulerMutations">,
  never,
  GroupRequirements<Groups, "schedulerMutations", R>
> =>
  makeMutations(
    api as unknown as OwnApi,
    options ?? (defaults as unknown as HandlerOptions<R>)
  ) as unknown as Layer.Layer<
    HttpApiGroup.ApiGroup<ApiId, "schedulerMutations">,
    never,
    GroupRequirements<Groups, "schedulerMutations", R>
  >

/**
 * {@link Api} implemented over the `Scheduler` service: serve it with
 * `HttpApiBuilder.serve()` (and, for docs, `HttpApiSwagger.layer()`).
 *
 * ```ts
 * HttpApiBuilder.serve().pipe(
 *   Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
 *   Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
 *   Layer.provide(SchedulerApi.layer),
 *   Layer.provide(Scheduler.Scheduler.layer),
 *   Layer.provide(ConsumerRegistry.ConsumerRegistry.layer),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 })),
 *   Layer.launch
 * )
 * ```
 *
 * @since 0.6.0
 * @category layers
 */
export const layer: Layer.Layer<HttpApi.Api, never, Scheduler> = HttpApiBuilder.api(Api).pipe(
  Layer.provide(Layer.merge(layerReads(Api), layerMutations(Api)))
)
