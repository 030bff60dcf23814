/**
 * Test support for the collectors: an in-memory JobStateStore, a real local
 * HTTP server (node:http on 127.0.0.1, ephemeral port), stream helpers, and
 * process helpers (liveness, clean-up, bounded waits on the real clock).
 */
import { Chunk, Duration, Effect, Layer, Option, Schedule, Stream, TestServices } from "effect"
import type * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import type { FetchError, RawEvent } from "../../src/app/collectors/Collector.js"
import * as JobStateStore from "../../src/app/storage/JobStateStore.js"
import type { Json } from "../../src/scheduler/Task.js"

/** The in-memory JobStateStore (`JobStateStore.makeMemory`), with synchronous access to its meta values for assertions. */
export const memoryStore = () => {
  const service = JobStateStore.makeMemory()
  return {
    layer: Layer.succeed(JobStateStore.JobStateStore, service),
    /** The stored meta value, or undefined. */
    getMeta: (instance: string, key: string): Json | undefined =>
      Option.getOrUndefined(Effect.runSync(service.getMeta(instance, key))),
    setMeta: (instance: string, key: string, value: Json): void => Effect.runSync(service.setMeta(instance, key, value))
  }
}

/** A request seen by the {@link testServer}. */
export interface SeenRequest {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

/** A local HTTP server: its base URL and the requests it received. */
export interface TestServer {
  readonly url: string
  readonly requests: ReadonlyArray<SeenRequest>
}

/**
 * Starts a node:http server on 127.0.0.1 (ephemeral port) for the scope;
 * closing it drops open connections (a handler may never answer).
 */
export const testServer = (
  handler: (request: Http.IncomingMessage, response: Http.ServerResponse) => void
): Effect.Effect<TestServer, never, Scope.Scope> => {
  const requests: Array<SeenRequest> = []
  return Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers })
        handler(request, response)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => ({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })))
}

/** A port nothing listens on (a server was bound to it, then closed). */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Runs a collector stream to the end. */
export const collect = (stream: Stream.Stream<RawEvent, FetchError>): Effect.Effect<Array<RawEvent>, FetchError> =>
  Stream.runCollect(stream).pipe(Effect.map(Chunk.toArray))

/** Runs a collector stream that must fail, returning its error. */
export const collectError = (stream: Stream.Stream<RawEvent, FetchError>): Effect.Effect<FetchError> =>
  collect(stream).pipe(
    Effect.flatMap((events) => Effect.dieMessage(`expected the run to fail; it produced ${events.length} events`)),
    Effect.flip
  )

/**
 * Whether process `pid` is running: it exists and is not a zombie (a dead
 * process not yet reaped by its parent still answers `kill(pid, 0)`).
 */
export const isAlive = (pid: number): boolean => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return false
  }
  // "pid (comm) state ...": the state follows the last ")"
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
}

/** Sends SIGKILL to each pid that is still alive (clean-up after a failed test; errors ignored). */
export const killAll = (pids: Iterable<number>): void => {
  for (const pid of pids) {
    if (!Number.isSafeInteger(pid) || pid <= 0) continue
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
}

/**
 * Polls `check` every 20 ms on the real clock (also under `TestClock`)
 * until it holds; dies naming `what` after `within` (default 30 s: generous,
 * a loaded machine must not fail it).
 */
export const waitUntil = (
  what: string,
  check: () => boolean,
  within: Duration.DurationInput = "30 seconds"
): Effect.Effect<void> =>
  TestServices.provideLive(
    Effect.sync(check).pipe(
      Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("20 millis") }),
      Effect.timeoutFail({
        duration: within,
        onTimeout: () => new Error(`timed out after ${Duration.format(Duration.decode(within))} waiting for ${what}`)
      }),
      Effect.orDie,
      Effect.asVoid
    )
  )

/** The pids (one per line, as `echo $! >> file` writes them) in `file`; none if it does not exist yet. */
export const readPids = (file: string): Array<number> => {
  try {
    return readFileSync(file, "utf8").split("\n").filter((line) => line.trim() !== "").map(Number)
  } catch {
    return []
  }
}
