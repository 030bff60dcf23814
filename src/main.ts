/**
 * Node entrypoint: the `rayinfo` CLI (`npm start` runs `rayinfo run` on the
 * example configuration). SIGINT/SIGTERM interrupt the program: the service
 * stops triggering, lets running collections finish, closes SQLite and exits 0.
 * A failure exits 1: known ones (bad configuration, unknown instance) were
 * already explained on stderr; anything else is printed with its cause.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { main } from "./app/Cli.js"

const explained = (cause: Cause.Cause<{ readonly _tag: string }>) =>
  Cause.isInterruptedOnly(cause) ||
  Option.exists(Cause.failureOption(cause), (error) => error._tag === "CliFailure")

main(process.argv).pipe(
  Effect.tapErrorCause((cause) => explained(cause) ? Effect.void : Console.error(Cause.pretty(cause))),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
