/**
 * LIVE (real time, real processes, a real SQLite file, the real HTTP API in
 * process): a command printing 150 000 results is parsed by the command
 * collector and stored by the SQL pipeline while another process polls
 * `/status`. The collector's work after the command exits must yield to the
 * event loop, so `/status` keeps answering; the worst response time seen by
 * the poller is printed and checked against a generous bound.
 *
 * The poller is a separate process on purpose: a client inside the test's
 * own event loop cannot send a request while that loop is blocked, so it
 * would never see the blocking it is meant to measure.
 */
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as CommandCollector from "../../src/app/collectors/command.js"
import * as ProcessGroups from "../../src/app/collectors/ProcessGroups.js"
import { RayInfoApi } from "../../src/app/http/Api.js"
import { GroupsLive } from "../../src/app/http/ApiLive.js"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import * as Database from "../../src/app/storage/Database.js"
import * as Items from "../../src/app/storage/Items.js"
import { adapterLayer } from "../app/support.js"
import { waitUntil } from "./support.js"

const scratch = mkdtempSync(join(tmpdir(), "rayinfo-large-output-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const RESULTS = 150_000

/** Prints `{"total": ..., "results": [...]}` with RESULTS small objects (about 9 MB). */
const script = `const results = []
for (let i = 0; i < ${RESULTS}; i++) results.push({ url: "https://example.org/r/" + i, title: "result " + i })
process.stdout.write(JSON.stringify({ total: ${RESULTS}, results }))`

/**
 * Polls `process.argv[1]` one request at a time (10 ms apart, a new
 * connection each) until its stdin closes; prints `[latency ms, items_total]`
 * per response, or `["error", message]`.
 */
const pollerScript = `let stop = false
process.stdin.on("end", () => { stop = true }); process.stdin.resume()
;(async () => {
  while (!stop) {
    const start = performance.now()
    try {
      const body = await (await fetch(process.argv[1], { headers: { connection: "close" } })).json()
      console.log(JSON.stringify([performance.now() - start, body.items_total]))
    } catch (error) {
      console.log(JSON.stringify(["error", String(error) + " " + String(error.cause)]))
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
})()`

interface Poller {
  readonly samples: Array<{ readonly millis: number; readonly items: number }>
  readonly errors: Array<string>
  readonly child: ChildProcess
}

/** Starts the poller on `url` for the scope; closing the scope ends it. */
const poller = (url: string) =>
  Effect.acquireRelease(
    Effect.sync((): Poller => {
      const child = spawn(process.execPath, ["-e", pollerScript, url], { stdio: ["pipe", "pipe", "inherit"] })
      const samples: Poller["samples"] = []
      const errors: Poller["errors"] = []
      let pending = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8")
        const lines = pending.split("\n")
        pending = lines.pop()!
        for (const line of lines) {
          const [millis, items] = JSON.parse(line) as [number, number] | ["error", string]
          if (millis === "error") errors.push(items)
          else samples.push({ millis, items })
        }
      })
      return { samples, errors, child }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

/** Ends the poller (stdin closed: it finishes its request and exits) and waits for its last lines. */
const stopPoller = ({ child }: Poller) =>
  Effect.async<void>((resume) => {
    child.once("close", () => resume(Effect.void))
    child.stdin!.end()
  })

const TestServer = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(RayInfoApi).pipe(Layer.provide(GroupsLive))),
  Layer.provideMerge(NodeHttpServer.layerTest),
  Layer.provideMerge(adapterLayer(RaySchedulerAdapter.layer({ maxSleep: "1 hour" }), [])),
  Layer.provideMerge(Items.layer),
  Layer.provideMerge(Database.layer({ filename: join(scratch, "rayinfo.db") })),
  Layer.provideMerge(Layer.merge(NodeContext.layer, ProcessGroups.layerMemory))
)

describe("command collector: a large result set", () => {
  it.scopedLive("150 000 results are stored while /status keeps answering", () =>
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const port = server.address._tag === "TcpAddress" ? server.address.port : 0
      const collector = yield* CommandCollector.make({
        name: "big",
        command: process.execPath,
        args: ["-e", script],
        maxOutputBytes: 64 * 1024 * 1024,
        timeout: "10 minutes"
      })
      // the SQL pipeline on the test's database (the adapter's runner has an in-memory one of its own)
      const pipeline = yield* SqlPipeline.make()

      const polling = yield* poller(`http://127.0.0.1:${port}/status`)
      // measured from the first answer on (the poller's own start-up and the server's first request excluded)
      yield* waitUntil("the poller's first answers", () => polling.samples.length >= 3)
      const warmUp = polling.samples.length

      const result = yield* pipeline.run(collector.fetch(undefined))
      assert.strictEqual(result.stored, RESULTS)
      yield* stopPoller(polling)

      const samples = polling.samples.slice(warmUp)
      const millis = samples.map((s) => s.millis).sort((a, b) => a - b)
      const worst = millis[millis.length - 1]!
      const during = samples.filter((s) => s.items > 0 && s.items < RESULTS).length
      console.log(
        `large output: ${samples.length} /status requests, ${during} of them while items were being stored; ` +
          `worst ${worst.toFixed(1)} ms, median ${millis[Math.floor(millis.length / 2)]!.toFixed(1)} ms`
      )
      assert.deepStrictEqual(polling.errors, [], "every request was answered")
      assert.isAtLeast(during, 1, "some requests were answered while the items were being stored")
      assert.isBelow(worst, 1000, "the worst /status response time (ms)")
    }).pipe(Effect.provide(TestServer)), { timeout: 300_000 })
})
