/**
 * A child process in its own process group, for the command collector.
 *
 * The process is spawned with `detached: true` (`setsid()`), so its pid is
 * also the id of a new process group that its children and grandchildren
 * join unless they leave it themselves (`setsid`). The whole group is killed
 * with `SIGKILL` by {@link GroupProcess.killGroup} and, at the latest, when
 * the scope of {@link spawn} closes — after a success, a failure, a timeout
 * or an interruption alike. Closing the scope never waits: it sends the
 * signal and closes the pipes.
 *
 * States, as the collector sees them:
 *
 * - STARTING: `spawn` hands the new group's id to its `onGroup` callback
 *   (the collector records it), then waits for Node's `spawn` event (or
 *   `error`: the command could not be started). Interruptible; the group is
 *   killed if the scope closes here.
 * - RUNNING: stdout is collected (at most `maxStdoutBytes`; one byte more
 *   kills the group and fails {@link GroupProcess.exit} at once), the last
 *   `stderrKeepBytes` of stderr are kept.
 * - EXITED: {@link GroupProcess.exit} has the exit code or signal. What is
 *   left of the group (grandchildren) is still alive until it is killed.
 * - CLOSED: the process exited and both pipes reached their end (every
 *   process that held them is gone): {@link GroupProcess.closed}.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import { stat } from "node:fs/promises"
import { concatBytes, TailBuffer } from "./util.js"

/** Options of {@link spawn}. */
export interface SpawnOptions {
  /** The executable: a name looked up in `PATH`, or a path. */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Working directory. Default: the process's. */
  readonly cwd?: string | undefined
  /** Variables added to (overriding) the process's environment. Default: none. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Largest stdout kept; one byte more kills the group. */
  readonly maxStdoutBytes: number
  /** Bytes of stderr kept (the last ones). */
  readonly stderrKeepBytes: number
}

/** The command could not be started (not found, not executable, bad working directory, bad argument). */
export class SpawnError extends Data.TaggedError("SpawnError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** The process wrote more than `maxStdoutBytes` to stdout; its group was killed. */
export class StdoutTooLarge extends Data.TaggedError("StdoutTooLarge")<{
  /** Bytes received when the limit was passed. */
  readonly bytesSeen: number
}> {}

/** How the process ended: an exit code, or the signal that killed it. */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running (or finished) process that leads its own process group. */
export interface GroupProcess {
  /** Its pid, which is also its process group id. */
  readonly pid: number
  /**
   * Waits until the process exits; fails as soon as stdout passes its limit
   * (the group is then already killed).
   */
  readonly exit: Effect.Effect<ExitStatus, StdoutTooLarge>
  /** Waits until the process exited and both pipes are at their end (or were closed). */
  readonly closed: Effect.Effect<void>
  /** Everything read from stdout so far (all of it once {@link closed}). */
  readonly stdout: () => Uint8Array
  /** Bytes read from stdout so far, including any beyond the limit. */
  readonly stdoutBytes: () => number
  /** The last `maxChars` characters of the kept stderr, trimmed. */
  readonly stderrTail: (maxChars: number) => string
  /** Sends `SIGKILL` to the whole group, now (a group that is gone is not an error). */
  readonly killGroup: Effect.Effect<void>
}

/**
 * Sends `SIGKILL` to process group `pgid`; false when the group no longer
 * exists (`ESRCH`). Other errors (`EPERM`: the group is not ours any more)
 * are returned as they are.
 */
export const killProcessGroup = (pgid: number): boolean | Error => {
  try {
    process.kill(-pgid, "SIGKILL")
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH" ? false : error as Error
  }
}

const describeError = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Fails unless `cwd` is an existing directory (Node would report a missing cwd as a missing command). */
const checkDirectory = (cwd: string): Effect.Effect<void, SpawnError> =>
  Effect.tryPromise({
    try: () => stat(cwd),
    catch: (cause) => new SpawnError({ message: `working directory ${cwd}: ${describeError(cause)}`, cause })
  }).pipe(
    Effect.filterOrFail(
      (stats) => stats.isDirectory(),
      () => new SpawnError({ message: `working directory ${cwd} is not a directory` })
    ),
    Effect.asVoid
  )

/**
 * Starts `options.command` in a new process group, stdin closed, stdout and
 * stderr piped. `onGroup` runs with the group id as soon as it is known —
 * right after the `fork`, before Node reports the start — so that the group
 * can be recorded as early as possible. The scope's close kills the group
 * (`SIGKILL`) and closes the pipes, without waiting for anything.
 */
export const spawn = <R>(
  options: SpawnOptions,
  onGroup: (pgid: number) => Effect.Effect<void, never, R>
): Effect.Effect<GroupProcess, SpawnError, Scope.Scope | R> =>
  Effect.gen(function*() {
    if (options.cwd !== undefined) yield* checkDirectory(options.cwd)
    const started = yield* Deferred.make<void, SpawnError>()
    const exited = yield* Deferred.make<ExitStatus, StdoutTooLarge>()
    const closed = yield* Deferred.make<void>()
    const stdoutChunks: Array<Uint8Array> = []
    let stdoutKept = 0
    let stdoutSeen = 0
    const stderr = new TailBuffer(options.stderrKeepBytes)

    const child = yield* Effect.acquireRelease(
      Effect.try({
        // throws at once on a bad argument (e.g. a NUL byte); a missing command is an "error" event
        try: () =>
          ChildProcess.spawn(options.command, [...options.args], {
            stdio: ["ignore", "pipe", "pipe"],
            cwd: options.cwd,
            env: options.env === undefined ? process.env : { ...process.env, ...options.env },
            detached: true
          }),
        catch: (cause) => new SpawnError({ message: describeError(cause), cause })
      }),
      (child) =>
        Effect.sync(() => {
          if (child.pid !== undefined) killProcessGroup(child.pid)
          child.stdout?.destroy()
          child.stderr?.destroy()
        })
    )

    const kill = (): void => {
      if (child.pid !== undefined) killProcessGroup(child.pid)
    }
    child.on("spawn", () => Deferred.unsafeDone(started, Exit.void))
    child.on("error", (error) =>
      // before "spawn": it could not be started; after: a failed kill, of no consequence
      Deferred.unsafeDone(started, Exit.fail(new SpawnError({ message: error.message, cause: error }))))
    child.on("exit", (code, signal) => Deferred.unsafeDone(exited, Exit.succeed({ code, signal })))
    child.on("close", () => Deferred.unsafeDone(closed, Exit.void))
    child.stdout!.on("error", () => {})
    child.stderr!.on("error", () => {})
    child.stdout!.on("data", (chunk: Buffer) => {
      stdoutSeen += chunk.length
      if (stdoutSeen > options.maxStdoutBytes) {
        // nothing more is read; a process that already exited keeps its exit status
        Deferred.unsafeDone(exited, Exit.fail(new StdoutTooLarge({ bytesSeen: stdoutSeen })))
        kill()
        child.stdout!.destroy()
        return
      }
      stdoutChunks.push(chunk)
      stdoutKept += chunk.length
    })
    child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk))

    if (child.pid !== undefined) yield* onGroup(child.pid)
    yield* Deferred.await(started)

    return {
      pid: child.pid!,
      exit: Deferred.await(exited),
      closed: Deferred.await(closed),
      stdout: () => concatBytes(stdoutChunks, stdoutKept),
      stdoutBytes: () => stdoutSeen,
      stderrTail: (maxChars) => stderr.text(maxChars),
      killGroup: Effect.sync(kill)
    } satisfies GroupProcess
  })
