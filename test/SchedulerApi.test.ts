/**
 * The scheduler's HTTP API (`SchedulerApi`) in process: the standalone
 * `SchedulerApi.Api` served over a memory scheduler with recording
 * consumers, on a test server (ephemeral port), under `TestClock`; and the
 * groups mounted in an application's own API, with a prefix and a
 * middleware on the mutations only.
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiError,
  HttpApiMiddleware,
  HttpClient,
  HttpClientRequest,
  HttpServerRequest,
  OpenApi
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Layer, TestClock } from "effect"
import type * as Scope from "effect/Scope"
import * as Scheduler from "../src/scheduler/Scheduler.js"
import * as SchedulerApi from "../src/scheduler/SchedulerApi.js"
import { Task } from "../src/scheduler/Task.js"
import type * as TaskConsumer from "../src/scheduler/TaskConsumer.js"
import { namedTask, recordingConsumer, type Run, settle, setup, uid } from "./support.js"

/** A response: its status and its body (JSON, else text, else null). */
interface Reply {
  readonly status: number
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the JSON bodies are read field by field
  readonly body: any
}

const call = (
  method: "GET" | "POST",
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {}
) =>
  Effect.gen(function*() {
    let request = method === "GET" ? HttpClientRequest.get(path) : HttpClientRequest.post(path)
    if (options.headers !== undefined) request = HttpClientRequest.setHeaders(request, options.headers)
    if (options.body !== undefined) request = HttpClientRequest.bodyText(request, options.body, "application/json")
    const response = yield* HttpClient.execute(request)
    const text = yield* response.text
    let body: unknown = null
    if (text !== "") {
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
    }
    return { status: response.status, body } as Reply
  }).pipe(Effect.orDie)

const get = (path: string) => call("GET", path)
const post = (path: string, body?: unknown) =>
  call("POST", path, body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })

/** A started memory scheduler with these consumers, and `SchedulerApi.Api` served over it; the client's context. */
const serve = (
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a consumer's error type is its own
  consumers: ReadonlyArray<TaskConsumer.TaskConsumerOptions<any, never>>,
  options?: Scheduler.SchedulerOptions
) =>
  Effect.gen(function*() {
    const { scheduler } = yield* setup(consumers, options)
    const context = yield* Layer.build(
      HttpApiBuilder.serve().pipe(
        Layer.provide(HttpApiBuilder.middlewareOpenApi()),
        Layer.provide(SchedulerApi.layer),
        Layer.provide(Layer.succeed(Scheduler.Scheduler, scheduler)),
        Layer.provideMerge(NodeHttpServer.layerTest)
      )
    ).pipe(Effect.orDie)
    return { scheduler, context }
  })

/** Runs `body` with a client of a server over a scheduler with these consumers. */
const withServer = <A, E>(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a consumer's error type is its own
  consumers: ReadonlyArray<TaskConsumer.TaskConsumerOptions<any, never>>,
  body: (scheduler: Scheduler.SchedulerService) => Effect.Effect<A, E, HttpClient.HttpClient>
): Effect.Effect<A, E, Scope.Scope> =>
  Effect.flatMap(serve(consumers), ({ context, scheduler }) => Effect.provide(body(scheduler), context))

const iso = (millis: number) => new Date(millis).toISOString()
const idsOf = (reply: Reply): Array<string> => reply.body.tasks.map((info: { task: { id: string } }) => info.task.id)

/** The field a 400 of the platform's decoder names: the path of its first issue. */
const decodeErrorPath = (reply: Reply) => {
  assert.strictEqual(reply.status, 400, JSON.stringify(reply.body))
  assert.strictEqual(reply.body._tag, "HttpApiDecodeError", JSON.stringify(reply.body))
  return reply.body.issues[0].path
}

describe("SchedulerApi: tasks", () => {
  it.scoped("GET /scheduler/tasks lists pending tasks in due order, pages with limit and cursor, and filters", () =>
    withServer([recordingConsumer("a", []), recordingConsumer("b", [])], (scheduler) =>
      Effect.gen(function*() {
        yield* scheduler.submitAll([
          yield* namedTask("a1", "a", 1000, { n: 1 }),
          yield* namedTask("a2", "a", 2000),
          yield* namedTask("a3", "a", 3000),
          yield* namedTask("b1", "b", 1500)
        ])
        const all = yield* get("/scheduler/tasks")
        assert.strictEqual(all.status, 200)
        assert.deepStrictEqual(idsOf(all), [uid("a1"), uid("b1"), uid("a2"), uid("a3")])
        assert.deepStrictEqual(all.body.tasks[0], {
          task: { id: uid("a1"), source: "a", args: { n: 1 }, schedule_at: iso(1000) },
          state: "pending",
          due_at: iso(1000),
          attempt: 1
        })
        assert.isNull(all.body.next_cursor)

        const first = yield* get("/scheduler/tasks?limit=3")
        assert.deepStrictEqual(idsOf(first), [uid("a1"), uid("b1"), uid("a2")])
        assert.isString(first.body.next_cursor)
        const second = yield* get(`/scheduler/tasks?limit=3&cursor=${encodeURIComponent(first.body.next_cursor)}`)
        assert.deepStrictEqual(idsOf(second), [uid("a3")])
        assert.isNull(second.body.next_cursor)

        assert.deepStrictEqual(idsOf(yield* get("/scheduler/tasks?source=a")), [uid("a1"), uid("a2"), uid("a3")])
        // no offset means UTC
        assert.deepStrictEqual(idsOf(yield* get("/scheduler/tasks?due_before=1970-01-01T00:00:02")), [
          uid("a1"),
          uid("b1")
        ])
        assert.deepStrictEqual(idsOf(yield* get("/scheduler/tasks?state=running")), [])
      })))

  it.scoped("GET /scheduler/tasks shows a running task as running", () =>
    withServer([recordingConsumer("a", [])], (scheduler) =>
      Effect.gen(function*() {
        yield* scheduler.submit(yield* namedTask("long", "a", 0, { ms: 10_000 }))
        yield* settle
        const running = yield* get("/scheduler/tasks?state=running")
        assert.deepStrictEqual(idsOf(running), [uid("long")])
        assert.strictEqual(running.body.tasks[0].state, "running")
        yield* TestClock.adjust("10 seconds")
      })))

  it.scoped("GET /scheduler/tasks/:id returns one task (URL-encoded id); an unknown id is a 404", () =>
    withServer([recordingConsumer("a", [])], (scheduler) =>
      Effect.gen(function*() {
        const id = "feed:https://x.example/a/b?c@2026-01-01T00:00:00.000Z"
        yield* scheduler.submit(yield* Task.create({ id, source: "a", scheduleAt: DateTime.unsafeMake(5000) }))
        const one = yield* get(`/scheduler/tasks/${encodeURIComponent(id)}`)
        assert.strictEqual(one.status, 200)
        assert.strictEqual(one.body.task.id, id)
        assert.strictEqual(one.body.due_at, iso(5000))

        const missing = yield* get("/scheduler/tasks/nope")
        assert.strictEqual(missing.status, 404)
        assert.deepStrictEqual(missing.body, {
          _tag: "TaskNotFound",
          id: "nope",
          message: "No task \"nope\" is pending or running"
        })
      })))

  it.scoped("bad query parameters are 400s naming the parameter", () =>
    withServer([recordingConsumer("a", [])], () =>
      Effect.gen(function*() {
        for (const limit of ["0", "1001", "1.5", "abc", ""]) {
          assert.deepStrictEqual(decodeErrorPath(yield* get(`/scheduler/tasks?limit=${limit}`)), ["limit"], limit)
        }
        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/tasks?limit=1&limit=2")), ["limit"])
        const zero = yield* get("/scheduler/tasks?limit=0")
        assert.strictEqual(zero.body.issues[0].message, "Expected an integer from 1 to 1000, got \"0\"")
        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/tasks?due_before=2024-02-30")), ["due_before"])
        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/tasks?state=done")), ["state"])
        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/tasks?source=")), ["source"])

        const cursor = yield* get("/scheduler/tasks?cursor=not-a-cursor")
        assert.strictEqual(cursor.status, 400)
        assert.strictEqual(cursor.body._tag, "InvalidRequest")
        assert.strictEqual(cursor.body.field, "cursor")
        assert.match(cursor.body.message, /cursor/)

        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/dead-letters?limit=0")), ["limit"])
        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/dead-letters?reason=Lost")), ["reason"])
        const letters = yield* get("/scheduler/dead-letters?cursor=xyz")
        assert.deepStrictEqual([letters.status, letters.body.field], [400, "cursor"])
        assert.deepStrictEqual(decodeErrorPath(yield* get("/scheduler/schedules?next=101")), ["next"])
        assert.deepStrictEqual(
          decodeErrorPath(yield* post("/scheduler/dead-letters/purge?older_than_seconds=-1")),
          ["older_than_seconds"]
        )
      })))
})

describe("SchedulerApi: cancel and reschedule", () => {
  it.scoped("POST /scheduler/tasks/:id/cancel removes a pending task (204) and interrupts a running one; else 404", () => {
    const runs: Array<Run> = []
    return withServer([recordingConsumer("a", runs)], (scheduler) =>
      Effect.gen(function*() {
        yield* scheduler.submit(yield* namedTask("p", "a", 5000))
        yield* scheduler.submit(yield* namedTask("r", "a", 0, { ms: 60_000 }))
        yield* settle
        assert.strictEqual((yield* post(`/scheduler/tasks/${uid("p")}/cancel`)).status, 204)
        assert.strictEqual((yield* get(`/scheduler/tasks/${uid("p")}`)).status, 404)
        assert.strictEqual((yield* post(`/scheduler/tasks/${uid("p")}/cancel`)).status, 404)

        assert.strictEqual((yield* get(`/scheduler/tasks/${uid("r")}`)).body.state, "running")
        assert.strictEqual((yield* post(`/scheduler/tasks/${uid("r")}/cancel`)).status, 204)
        assert.strictEqual((yield* get(`/scheduler/tasks/${uid("r")}`)).status, 404)

        const missing = yield* post("/scheduler/tasks/nope/cancel")
        assert.deepStrictEqual([missing.status, missing.body._tag], [404, "TaskNotFound"])
        yield* TestClock.setTime(10_000)
        assert.deepStrictEqual(runs.map((run) => [run.id, run.end]), [[uid("r"), undefined]], "p never ran")
        const stats = yield* get("/scheduler/stats")
        assert.strictEqual(stats.body.cancelled, 2)
      }))
  })

  it.scoped("POST /scheduler/tasks/:id/reschedule moves a pending task; it runs at its new instant", () => {
    const runs: Array<Run> = []
    return withServer([recordingConsumer("a", runs)], (scheduler) =>
      Effect.gen(function*() {
        yield* scheduler.submit(yield* namedTask("t", "a", 1000))
        // 01:00:05+01:00 is 00:00:05 UTC
        const moved = yield* post(`/scheduler/tasks/${uid("t")}/reschedule`, {
          schedule_at: "1970-01-01T01:00:05+01:00"
        })
        assert.strictEqual(moved.status, 204, JSON.stringify(moved.body))
        assert.strictEqual((yield* get(`/scheduler/tasks/${uid("t")}`)).body.due_at, iso(5000))
        yield* TestClock.setTime(4999)
        assert.deepStrictEqual(runs, [])
        yield* TestClock.setTime(5000)
        assert.deepStrictEqual(runs.map((run) => [run.id, run.start]), [[uid("t"), 5000]])
      }))
  })

  it.scoped("reschedule: a bad body is a 400 naming the field; unknown task 404; running task 409", () =>
    withServer([recordingConsumer("a", [])], (scheduler) =>
      Effect.gen(function*() {
        yield* scheduler.submit(yield* namedTask("t", "a", 1000))
        const path = `/scheduler/tasks/${uid("t")}/reschedule`

        const notJson = yield* post(path, "{not json")
        assert.deepStrictEqual([notJson.status, notJson.body._tag, notJson.body.field], [400, "InvalidRequest", "body"])
        const empty = yield* call("POST", path, { headers: { "content-type": "application/json" } })
        assert.deepStrictEqual([empty.status, empty.body.field], [400, "body"])
        assert.deepStrictEqual(decodeErrorPath(yield* post(path, {})), ["schedule_at"])
        assert.deepStrictEqual(decodeErrorPath(yield* post(path, { scheduleAt: "2030-01-01T00:00:00Z" })), [
          "schedule_at"
        ])
        const impossible = yield* post(path, { schedule_at: "2024-02-30T00:00:00Z" })
        assert.deepStrictEqual(decodeErrorPath(impossible), ["schedule_at"])
        assert.match(impossible.body.message, /2024-02-30/)
        assert.deepStrictEqual(decodeErrorPath(yield* post(path, { schedule_at: 5000 })), ["schedule_at"])
        assert.strictEqual((yield* get(`/scheduler/tasks/${uid("t")}`)).body.due_at, iso(1000), "not moved")

        const unknown = yield* post("/scheduler/tasks/nope/reschedule", { schedule_at: "2030-01-01T00:00:00Z" })
        assert.deepStrictEqual([unknown.status, unknown.body._tag], [404, "TaskNotFound"])

        yield* scheduler.submit(yield* namedTask("run", "a", 0, { ms: 10_000 }))
        yield* settle
        const running = yield* post(`/scheduler/tasks/${uid("run")}/reschedule`, {
          schedule_at: "2030-01-01T00:00:00Z"
        })
        assert.deepStrictEqual([running.status, running.body._tag], [409, "TaskNotPending"])
        yield* TestClock.adjust("10 seconds")
      })))
})

describe("SchedulerApi: sources", () => {
  it.scoped("pause and resume are visible in GET /scheduler/sources and hold the source's tasks", () => {
    const runs: Array<Run> = []
    return withServer(
      [recordingConsumer("a", runs), recordingConsumer("b", [])],
      (scheduler) =>
        Effect.gen(function*() {
          yield* scheduler.submit(yield* namedTask("t", "a", 1000))
          assert.strictEqual((yield* post("/scheduler/sources/a/pause")).status, 204)
          assert.strictEqual((yield* post("/scheduler/sources/ghost/pause")).status, 204)
          const paused = yield* get("/scheduler/sources")
          assert.deepStrictEqual(
            paused.body.sources.map((s: { source: string; paused: boolean }) => [s.source, s.paused]),
            [["a", true], ["ghost", true]]
          )
          assert.strictEqual(paused.body.sources[0].stats.pending, 1)
          assert.strictEqual(paused.body.sources[1].stats.submitted, 0)
          yield* TestClock.setTime(2000)
          assert.deepStrictEqual(runs, [], "a paused source's task waits")

          assert.strictEqual((yield* post("/scheduler/sources/a/resume")).status, 204)
          yield* settle
          assert.deepStrictEqual(runs.map((run) => [run.id, run.start]), [[uid("t"), 2000]])
          const resumed = yield* get("/scheduler/sources")
          const a = resumed.body.sources.find((s: { source: string }) => s.source === "a")
          assert.deepStrictEqual([a.paused, a.stats.succeeded, a.stats.in_flight], [false, 1, 0])
        })
    )
  })
})

describe("SchedulerApi: dead letters", () => {
  it.scoped("list (oldest first, paged, filtered), replay (404, 409) and purge", () => {
    let failing = true
    const starts: Array<string> = []
    const flaky = {
      name: "f",
      consume: (task: Task) =>
        Effect.suspend(() => {
          starts.push(task.id)
          return failing ? Effect.fail(new Error(`boom ${task.id}`)) : Effect.void
        })
    }
    return withServer([flaky], (scheduler) =>
      Effect.gen(function*() {
        for (const [name, at] of [["d1", 1000], ["d2", 2000], ["d3", 3000]] as const) {
          yield* scheduler.submit(yield* namedTask(name, "f", at))
          yield* TestClock.setTime(at)
        }
        const all = yield* get("/scheduler/dead-letters")
        assert.strictEqual(all.status, 200)
        assert.deepStrictEqual(
          all.body.dead_letters.map((l: { task: { id: string }; at: string }) => [l.task.id, l.at]),
          [[uid("d1"), iso(1000)], [uid("d2"), iso(2000)], [uid("d3"), iso(3000)]]
        )
        assert.deepStrictEqual(
          { ...all.body.dead_letters[0], task: undefined },
          { task: undefined, reason: "Failed", error: `Error: boom ${uid("d1")}`, attempts: 1, at: iso(1000) }
        )
        assert.isNull(all.body.next_cursor)

        const first = yield* get("/scheduler/dead-letters?limit=2")
        assert.strictEqual(first.body.dead_letters.length, 2)
        const rest = yield* get(`/scheduler/dead-letters?limit=2&cursor=${first.body.next_cursor}`)
        assert.deepStrictEqual(rest.body.dead_letters.map((l: { task: { id: string } }) => l.task.id), [uid("d3")])
        assert.isNull(rest.body.next_cursor)
        assert.strictEqual((yield* get("/scheduler/dead-letters?reason=Died")).body.dead_letters.length, 0)
        assert.strictEqual((yield* get("/scheduler/dead-letters?source=f")).body.dead_letters.length, 3)

        // replay: submitted again, due now, and gone from the dead letters; it succeeds this time
        failing = false
        assert.strictEqual((yield* post(`/scheduler/dead-letters/${uid("d1")}/replay`)).status, 204)
        yield* settle
        assert.deepStrictEqual(starts, [uid("d1"), uid("d2"), uid("d3"), uid("d1")])
        assert.strictEqual((yield* get("/scheduler/stats")).body.succeeded, 1)
        const unknown = yield* post(`/scheduler/dead-letters/${uid("d1")}/replay`)
        assert.deepStrictEqual([unknown.status, unknown.body._tag], [404, "DeadLetterNotFound"])

        // a task with the dead letter's id is pending: 409, and the dead letter is kept
        yield* scheduler.submit(yield* namedTask("d2", "f", 60_000))
        const conflict = yield* post(`/scheduler/dead-letters/${uid("d2")}/replay`)
        assert.deepStrictEqual([conflict.status, conflict.body._tag], [409, "TaskIdInUse"])
        assert.strictEqual((yield* get("/scheduler/dead-letters")).body.dead_letters.length, 2)

        // purge: those older than 7.5 s at 10 s (d2, at 2 s), then all
        yield* TestClock.setTime(10_000)
        const older = yield* post("/scheduler/dead-letters/purge?older_than_seconds=7.5")
        assert.deepStrictEqual([older.status, older.body], [200, { purged: 1 }])
        const left = yield* get("/scheduler/dead-letters")
        assert.deepStrictEqual(left.body.dead_letters.map((l: { task: { id: string } }) => l.task.id), [uid("d3")])
        assert.deepStrictEqual((yield* post("/scheduler/dead-letters/purge")).body, { purged: 1 })
        assert.strictEqual((yield* get("/scheduler/stats")).body.dead_letters, 0)
      }))
  })
})

describe("SchedulerApi: schedules and stats", () => {
  it.scoped("GET /scheduler/schedules lists each schedule with its next runs (cron across a DST change)", () =>
    withServer([recordingConsumer("a", [])], (scheduler) =>
      Effect.gen(function*() {
        const now = Date.UTC(2026, 2, 6, 13) // 2026-03-06T13:00Z; New York moves to EDT on March 8
        yield* TestClock.setTime(now)
        yield* scheduler.schedule({ id: "hb", source: "a", every: "1 hour", args: { k: "v" } })
        yield* scheduler.schedule({
          id: "daily",
          source: "a",
          cron: "0 7 * * *",
          timeZone: "America/New_York",
          misfire: { policy: "skip", grace: "6 hours" }
        })
        const reply = yield* get("/scheduler/schedules?next=3")
        assert.strictEqual(reply.status, 200)
        const [daily, hb] = reply.body.schedules
        assert.deepStrictEqual(daily, {
          id: "daily",
          source: "a",
          args: {},
          cron: "0 7 * * *",
          every_seconds: null,
          time_zone: "America/New_York",
          misfire: { policy: "skip", grace_seconds: 21600 },
          next_run: "2026-03-07T12:00:00.000Z",
          next_runs: ["2026-03-07T12:00:00.000Z", "2026-03-08T11:00:00.000Z", "2026-03-09T11:00:00.000Z"],
          current: null,
          runs: 0,
          skipped_overlap: 0,
          skipped_missed: 0
        })
        assert.deepStrictEqual(
          [hb.every_seconds, hb.cron, hb.args, hb.misfire],
          [3600, null, { k: "v" }, { policy: "coalesce", grace_seconds: null }]
        )
        assert.deepStrictEqual(hb.next_runs, [iso(now + 3_600_000), iso(now + 7_200_000), iso(now + 10_800_000)])
        assert.deepStrictEqual((yield* get("/scheduler/schedules")).body.schedules[1].next_runs, [
          iso(now + 3_600_000)
        ])
      })))

  it.scoped("GET /scheduler/stats reports the counters, in total and by source", () => {
    const runs: Array<Run> = []
    return withServer(
      [recordingConsumer("a", runs), recordingConsumer("b", [])],
      (scheduler) =>
        Effect.gen(function*() {
          yield* scheduler.submitAll([
            yield* namedTask("a1", "a", 1000),
            yield* namedTask("a2", "a", 2000, { outcome: "fail" }),
            yield* namedTask("b1", "b", 9000)
          ])
          yield* TestClock.setTime(2500)
          const stats = yield* get("/scheduler/stats")
          assert.strictEqual(stats.status, 200)
          const body = stats.body
          assert.deepStrictEqual(
            [
              body.submitted,
              body.started,
              body.succeeded,
              body.failed,
              body.pending,
              body.in_flight,
              body.dead_letters
            ],
            [3, 2, 1, 1, 1, 0, 1]
          )
          assert.deepStrictEqual([body.running, body.waiting, body.clock_jumps, body.next_at], [true, 0, 0, iso(9000)])
          assert.deepStrictEqual(body.lateness, { count: 2, total_ms: 0, mean_ms: 0, max_ms: 0 })
          assert.deepStrictEqual(Object.keys(body.by_source).sort(), ["a", "b"])
          assert.deepStrictEqual([body.by_source.a.succeeded, body.by_source.a.failed, body.by_source.b.pending], [
            1,
            1,
            1
          ])
        })
    )
  })
})

describe("SchedulerApi: OpenAPI", () => {
  it.scoped("GET /openapi.json describes the routes, the snake_case parameters and bodies", () =>
    withServer([], () =>
      Effect.gen(function*() {
        const reply = yield* get("/openapi.json")
        assert.strictEqual(reply.status, 200)
        const spec = reply.body
        assert.strictEqual(spec.info.title, "RayScheduler")
        assert.includeMembers(Object.keys(spec.paths), [
          "/scheduler/tasks",
          "/scheduler/tasks/{id}",
          "/scheduler/tasks/{id}/cancel",
          "/scheduler/tasks/{id}/reschedule",
          "/scheduler/sources",
          "/scheduler/sources/{source}/pause",
          "/scheduler/sources/{source}/resume",
          "/scheduler/dead-letters",
          "/scheduler/dead-letters/{id}/replay",
          "/scheduler/dead-letters/purge",
          "/scheduler/schedules",
          "/scheduler/stats"
        ])
        const list = spec.paths["/scheduler/tasks"].get
        assert.includeMembers(list.parameters.map((p: { name: string }) => p.name), [
          "source",
          "state",
          "due_before",
          "limit",
          "cursor"
        ])
        assert.includeMembers(Object.keys(list.responses), ["200", "400", "503"])
        const reschedule = spec.paths["/scheduler/tasks/{id}/reschedule"].post
        assert.includeMembers(Object.keys(reschedule.responses), ["204", "400", "404", "409"])
        assert.isDefined(reschedule.requestBody)
        assert.isString(reschedule.summary)
        // the same document, computed without a server
        assert.deepStrictEqual(Object.keys(OpenApi.fromApi(SchedulerApi.Api).paths), Object.keys(spec.paths))
      })))
})

// ---- mounted in an application's API ------------------------------------------

/** The application's guard: `x-admin: yes` or 401. */
class Admin extends HttpApiMiddleware.Tag<Admin>()("test/Admin", { failure: HttpApiError.Unauthorized }) {}

const AdminLive = Layer.succeed(
  Admin,
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) => request.headers["x-admin"] === "yes" ? Effect.void : Effect.fail(new HttpApiError.Unauthorized())
  )
)

class AppApi extends HttpApi.make("app")
  .add(SchedulerApi.ReadGroup)
  .add(SchedulerApi.MutationGroup.middleware(Admin))
  .prefix("/ops")
{}

describe("SchedulerApi: mounted in an application's API", () => {
  it.scoped("under the application's prefix, with its middleware on the mutations only", () =>
    Effect.gen(function*() {
      const { scheduler } = yield* setup([recordingConsumer("a", [])])
      yield* scheduler.submit(yield* namedTask("t", "a", 5000))
      const context = yield* Layer.build(
        HttpApiBuilder.serve().pipe(
          Layer.provide(
            HttpApiBuilder.api(AppApi).pipe(
              Layer.provide(SchedulerApi.layerReads(AppApi)),
              Layer.provide(SchedulerApi.layerMutations(AppApi)),
              Layer.provide(AdminLive)
            )
          ),
          Layer.provide(Layer.succeed(Scheduler.Scheduler, scheduler)),
          Layer.provideMerge(NodeHttpServer.layerTest)
        )
      )
      yield* Effect.gen(function*() {
        assert.deepStrictEqual(idsOf(yield* get("/ops/scheduler/tasks")), [uid("t")], "reads are open")
        assert.strictEqual((yield* get("/scheduler/tasks")).status, 404, "only under the prefix")
        assert.strictEqual((yield* post(`/ops/scheduler/tasks/${uid("t")}/cancel`)).status, 401)
        assert.strictEqual((yield* get(`/ops/scheduler/tasks/${uid("t")}`)).status, 200, "not cancelled")
        const allowed = yield* call("POST", `/ops/scheduler/tasks/${uid("t")}/cancel`, {
          headers: { "x-admin": "yes" }
        })
        assert.strictEqual(allowed.status, 204)
        assert.strictEqual((yield* get(`/ops/scheduler/tasks/${uid("t")}`)).status, 404)
      }).pipe(Effect.provide(context))
    }))

  it.scoped("a scheduler option that fails with SchedulerUnavailable answers 503 with its message", () =>
    Effect.gen(function*() {
      const unavailable = Effect.fail(new SchedulerApi.SchedulerUnavailable({ message: "not here" }))
      const context = yield* Layer.build(
        HttpApiBuilder.serve().pipe(
          Layer.provide(
            HttpApiBuilder.api(SchedulerApi.Api).pipe(
              Layer.provide(SchedulerApi.layerReads(SchedulerApi.Api, { scheduler: unavailable })),
              Layer.provide(SchedulerApi.layerMutations(SchedulerApi.Api, { scheduler: unavailable }))
            )
          ),
          Layer.provideMerge(NodeHttpServer.layerTest)
        )
      )
      yield* Effect.gen(function*() {
        for (const reply of [yield* get("/scheduler/stats"), yield* post("/scheduler/sources/a/pause")]) {
          assert.deepStrictEqual([reply.status, reply.body], [503, {
            _tag: "SchedulerUnavailable",
            message: "not here"
          }])
        }
      }).pipe(Effect.provide(context))
    }))
})
