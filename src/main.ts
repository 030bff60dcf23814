/**
 * Node entrypoint: the `rayinfo` CLI (`npm start` runs `rayinfo run` on the
 * example configuration). The first SIGINT/SIGTERM interrupts the program:
 * the service stops triggering, waits for running collections up to
 * `shutdown.timeout` and then interrupts them, closes SQLite and exits 0.
 * A second signal interrupts the running collections at once (their
 * process groups are killed) instead of killing the process and orphaning
 * them. A failure exits 1: known ones (bad configuration, unknown instance,
 * another service on the database) were already explained on stderr;
 * anything else is printed with its cause.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { main } from "./app/Cli.js"
import { ForceShutdown, installSignalHandlers } from "./app/Shutdown.js"

const explained = (cause: Cause.Cause<{ readonly _tag: string }>) =>
  Cause.isInterruptedOnly(cause) ||
  Option.exists(Cause.failureOption(cause), (error) => error._tag === "CliFailure")

const force = installSignalHandlers((signal) =>
  process.stderr.write(`${signal} again: interrupting running collections now\n`)
)

main(process.argv).pipe(
  Effect.provideService(ForceShutdown, force),
  Effect.tapErrorCause((cause) => explained(cause) ? Effect.void : Console.error(Cause.pretty(cause))),
  // the logger is the one LOG_FORMAT names (`Cli.main`), not runMain's pretty one
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
