/**
 * The SQL layer's scheduler: the options, then the shared core
 * (`scheduler.ts`) on the SQL backend (`sqlBackend.ts`). docs/architecture.md,
 * "The SQL layer".
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ConsumerRegistry } from "../ConsumerRegistry.js"
import type { SchedulerService, SqlSchedulerOptions } from "../Scheduler.js"
import { invalidOption, makeWith, maxTimerMillis, resolveOptions } from "./scheduler.js"
import { sqlBackend } from "./sqlBackend.js"
import { tables, validPrefix } from "./sqlStore.js"

/** Defaults of the SQL layer's own options. @internal */
export const defaultTablePrefix = "ray_scheduler_"
/** @internal */
export const defaultMemoryWindow = 100_000
/** @internal */
export const defaultLeaseTtl: Duration.Duration = Duration.seconds(30)
/** @internal */
export const defaultNoConsumerGrace: Duration.Duration = Duration.seconds(30)

const invalid = (option: string, expected: string, value: unknown): never =>
  invalidOption(option, expected, value, "Scheduler.layerSql")

/** @internal */
export const make = (
  options: SqlSchedulerOptions = {}
): Effect.Effect<SchedulerService, SqlError, ConsumerRegistry | SqlClient.SqlClient | Scope.Scope> =>
  Effect.suspend(() => {
    const settings = resolveOptions(options, defaultNoConsumerGrace)
    const prefix = options.tablePrefix ?? defaultTablePrefix
    if (typeof prefix !== "string" || !validPrefix.test(prefix)) {
      invalid("tablePrefix", "letters, digits and _ (starting with a letter or _), at most 41", prefix)
    }
    const window = options.memoryWindow ?? defaultMemoryWindow
    if (!Number.isSafeInteger(window) || window < 1) invalid("memoryWindow", "an integer >= 1", window)
    const lease = Duration.decodeUnknown(options.leaseTtl ?? defaultLeaseTtl)
    if (Option.isNone(lease) || !(Duration.toMillis(lease.value) >= 1000) || !Duration.isFinite(lease.value)) {
      invalid("leaseTtl", "a finite duration of at least 1 second", options.leaseTtl)
    }
    const leaseMillis = Math.min(Duration.toMillis(Option.getOrThrow(lease)), maxTimerMillis)
    return Effect.flatMap(
      SqlClient.SqlClient,
      (sql) =>
        makeWith(settings, (context) => sqlBackend(sql, { tables: tables(prefix), window, leaseMillis }, context))
    )
  })
