/**
 * `Leases` — named, expiring locks shared by every process on one database:
 * `service` (only one service runs on a database) and `job:<instance>` (runs
 * of one job never overlap, whether the service or a `rayinfo trigger`
 * started them). See docs/architecture.md, "Processes sharing a database".
 *
 * A lease is held for a scope: acquired (or waited for), renewed every third
 * of its time-to-live while the scope is open, released when it closes. A
 * holder that stops renewing — it was killed — loses the lease when it
 * expires; a holder that died on this machine loses it at once (its process
 * identity, `ProcessOwner`, no longer runs). Expiry times are epoch
 * milliseconds from the `Clock`.
 *
 * `layerSql` keeps the leases in the `lease` table; `layerMemory` in this
 * process only (tests, or an embedding with a single process).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ProcessOwner from "../ProcessOwner.js"
import { IntColumn } from "./Columns.js"
import { type StorageError, withBusyRetry } from "./StorageError.js"

/** Who holds a lease. */
export interface LeaseHolder {
  /** e.g. `the service (pid 1234 on host, API http://127.0.0.1:8000)`. */
  readonly description: string
  /** Epoch milliseconds. */
  readonly acquiredAt: number
  /** Epoch milliseconds; renewed while the holder runs. */
  readonly expiresAt: number
}

/** The lease is held by another live holder (with `wait: false`). */
export class LeaseHeldError extends Data.TaggedError("LeaseHeldError")<{
  readonly name: string
  readonly holder: LeaseHolder
}> {
  override get message(): string {
    return `${this.name} is held by ${this.holder.description}`
  }
}

/** Options of {@link LeasesService.acquire}. */
export interface AcquireOptions {
  /** Says who holds it, in other processes' messages. */
  readonly description: string
  /**
   * `true`: wait (polling) until the lease is free; `false`: fail at once
   * with {@link LeaseHeldError}. Default: `true`.
   */
  readonly wait?: boolean | undefined
  /** Called once when the lease is busy and the caller starts waiting. */
  readonly onWait?: ((holder: LeaseHolder) => Effect.Effect<void>) | undefined
}

/** A held lease. */
export interface Lease {
  readonly name: string
  /**
   * Completes if a renewal finds the lease taken by someone else (this
   * process stopped renewing for longer than the time-to-live).
   */
  readonly lost: Effect.Effect<void>
}

export interface LeasesService {
  /** Holds lease `name` until the scope closes (see the module doc). */
  readonly acquire: (
    name: string,
    options: AcquireOptions
  ) => Effect.Effect<Lease, LeaseHeldError | StorageError, Scope.Scope>
}

/** The leases service. */
export class Leases extends Context.Tag("rayinfo/Leases")<Leases, LeasesService>() {}

/** Options of the layers. */
export interface LeasesOptions {
  /** How long a lease lasts without renewal. Default: 30 seconds. */
  readonly ttl?: Duration.DurationInput | undefined
  /** How often a waiter checks whether the lease is free. Default: 1 second. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/** Defaults of {@link LeasesOptions}. */
export const defaults = {
  ttl: Duration.seconds(30),
  pollInterval: Duration.seconds(1)
} as const

/** A stored lease. */
interface Row {
  readonly holder: string
  readonly owner: string
  readonly description: string
  readonly acquiredAt: number
  readonly expiresAt: number
}

/**
 * A {@link Row} as the columns of a `lease` row (epoch milliseconds as
 * integers: `BIGINT` on PostgreSQL, read as text, see `Columns.IntColumn`).
 */
const RowColumns: Schema.Schema<Row, {
  readonly holder: string
  readonly owner: string
  readonly description: string
  readonly acquired_at: number | string
  readonly expires_at: number | string
}> = Schema.Struct({
  holder: Schema.String,
  owner: Schema.String,
  description: Schema.String,
  acquiredAt: Schema.propertySignature(IntColumn).pipe(Schema.fromKey("acquired_at")),
  expiresAt: Schema.propertySignature(IntColumn).pipe(Schema.fromKey("expires_at"))
})

/** A lease's name with its row: what a claim writes. */
const Claim = Schema.Struct({ name: Schema.String, row: RowColumns, now: Schema.Number })

/** The holder a statement returns (`RETURNING holder`). */
const HolderRow = Schema.Struct({ holder: Schema.String })

/** The storage behind the leases: the three atomic steps the protocol needs. */
interface Store {
  /** Inserts, or takes over a row that is expired, ours, or held by `replacing`; whether it took it. */
  readonly claim: (
    name: string,
    row: Row,
    now: number,
    replacing: Option.Option<string>
  ) => Effect.Effect<boolean, StorageError>
  readonly read: (name: string) => Effect.Effect<Option.Option<Row>, StorageError>
  /** Moves the expiry of a row we hold; false if it is not ours any more. */
  readonly renew: (name: string, holder: string, expiresAt: number) => Effect.Effect<boolean, StorageError>
  readonly release: (name: string, holder: string) => Effect.Effect<void, StorageError>
}

const holderOf = (row: Row): LeaseHolder => ({
  description: row.description,
  acquiredAt: row.acquiredAt,
  expiresAt: row.expiresAt
})

/** Whether the row's holder process is known to be gone (died on this machine). */
const ownerIsDead = (row: Row): boolean =>
  Option.match(ProcessOwner.decode(row.owner), {
    onNone: () => false,
    onSome: (owner) => ProcessOwner.liveness(owner) === "dead"
  })

const makeService = (store: Store, options: LeasesOptions): LeasesService => {
  const ttl = Duration.toMillis(Duration.decode(options.ttl ?? defaults.ttl))
  const poll = Duration.decode(options.pollInterval ?? defaults.pollInterval)
  const renewEvery = Duration.millis(Math.max(1, Math.floor(ttl / 3)))
  const owner = ProcessOwner.encode(ProcessOwner.current())

  /** One attempt: the lease, or who holds it. */
  const attempt = (
    name: string,
    holder: string,
    description: string
  ): Effect.Effect<Option.Option<LeaseHolder>, StorageError> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const row: Row = { holder, owner, description, acquiredAt: now, expiresAt: now + ttl }
      if (yield* store.claim(name, row, now, Option.none())) return Option.none<LeaseHolder>()
      const current = yield* store.read(name)
      if (Option.isNone(current)) return yield* attempt(name, holder, description)
      if (ownerIsDead(current.value)) {
        yield* Effect.logInfo(`taking over ${name}: its holder (${current.value.description}) is no longer running`)
        if (yield* store.claim(name, row, now, Option.some(current.value.holder))) return Option.none<LeaseHolder>()
        return yield* attempt(name, holder, description)
      }
      return Option.some(holderOf(current.value))
    })

  const acquire: LeasesService["acquire"] = (name, acquireOptions) =>
    Effect.gen(function*() {
      const holder = crypto.randomUUID()
      let waited = false
      for (;;) {
        const busy = yield* attempt(name, holder, acquireOptions.description)
        if (Option.isNone(busy)) break
        if (acquireOptions.wait === false) return yield* new LeaseHeldError({ name, holder: busy.value })
        if (!waited) {
          waited = true
          if (acquireOptions.onWait !== undefined) yield* acquireOptions.onWait(busy.value)
        }
        yield* Effect.sleep(poll)
      }
      yield* Effect.addFinalizer(() =>
        store.release(name, holder).pipe(
          Effect.catchAll((error) => Effect.logWarning(`could not release ${name}: ${error.message}`))
        )
      )
      let lost = false
      const lostLatch = yield* Effect.makeLatch(false)
      const renew = Effect.gen(function*() {
        if (lost) return
        const now = yield* Clock.currentTimeMillis
        if (!(yield* store.renew(name, holder, now + ttl))) {
          lost = true
          yield* Effect.logError(`lost ${name}: another process took it over after this one stopped renewing it`)
          yield* lostLatch.open
        }
      }).pipe(Effect.catchAll((error) => Effect.logWarning(`could not renew ${name}: ${error.message}`)))
      yield* renew.pipe(Effect.repeat(Schedule.spaced(renewEvery)), Effect.delay(renewEvery), Effect.forkScoped)
      return { name, lost: lostLatch.await }
    }).pipe(Effect.annotateLogs({ module: "Leases" }), Effect.withSpan("Leases.acquire", { attributes: { name } }))

  return { acquire }
}

/**
 * The leases in the `lease` table of the SqlClient's database (SQLite
 * migration 4, or PostgreSQL's schema): every step is one statement
 * (`INSERT ... ON CONFLICT ... WHERE`, `UPDATE ... RETURNING`), atomic on
 * both databases.
 */
export const layerSql = (options: LeasesOptions = {}): Layer.Layer<Leases, never, SqlClient.SqlClient> =>
  Layer.effect(
    Leases,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      /** Inserts the row, or takes over one that is expired or ours; the rows it wrote. */
      const insert = SqlSchema.findAll({
        Request: Claim,
        Result: HolderRow,
        execute: ({ name, now, row }) =>
          sql`INSERT INTO lease ${sql.insert({ name, ...row })}
              ON CONFLICT (name) DO UPDATE SET
                holder = excluded.holder, owner = excluded.owner, description = excluded.description,
                acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
              WHERE lease.expires_at <= ${now} OR lease.holder = excluded.holder
              RETURNING holder`
      })

      /** Takes over the row held by `previous`; the rows it wrote. */
      const replace = SqlSchema.findAll({
        Request: Schema.Struct({ name: Schema.String, row: RowColumns, previous: Schema.String }),
        execute: ({ name, previous, row }) =>
          sql`UPDATE lease SET ${sql.update(row)}
              WHERE name = ${name} AND holder = ${previous}
              RETURNING holder`,
        Result: HolderRow
      })

      const read = SqlSchema.findOne({
        Request: Schema.String,
        Result: RowColumns,
        execute: (name) =>
          sql`SELECT holder, owner, description, acquired_at, expires_at FROM lease WHERE name = ${name}`
      })

      const renew = SqlSchema.findAll({
        Request: Schema.Struct({ name: Schema.String, holder: Schema.String, expiresAt: Schema.Number }),
        Result: HolderRow,
        execute: ({ expiresAt, holder, name }) =>
          sql`UPDATE lease SET expires_at = ${expiresAt} WHERE name = ${name} AND holder = ${holder}
              RETURNING holder`
      })

      const release = SqlSchema.void({
        Request: Schema.Struct({ name: Schema.String, holder: Schema.String }),
        execute: ({ holder, name }) => sql`DELETE FROM lease WHERE name = ${name} AND holder = ${holder}`
      })

      const store: Store = {
        claim: (name, row, now, replacing) =>
          Option.match(replacing, {
            onNone: () => insert({ name, row, now }),
            onSome: (previous) => replace({ name, row, previous })
          }).pipe(Effect.map((rows) => rows.length > 0), withBusyRetry(`taking the lease ${name}`)),
        read: (name) => read(name).pipe(withBusyRetry(`reading the lease ${name}`)),
        renew: (name, holder, expiresAt) =>
          renew({ name, holder, expiresAt }).pipe(
            Effect.map((rows) => rows.length > 0),
            withBusyRetry(`renewing the lease ${name}`)
          ),
        release: (name, holder) => release({ name, holder }).pipe(withBusyRetry(`releasing the lease ${name}`))
      }
      return makeService(store, options)
    })
  )

/** Leases held in this process only. */
export const layerMemory = (options: LeasesOptions = {}): Layer.Layer<Leases> =>
  Layer.sync(Leases, () => {
    const rows = new Map<string, Row>()
    const store: Store = {
      claim: (name, row, now, replacing) =>
        Effect.sync(() => {
          const current = rows.get(name)
          const free = current === undefined || current.expiresAt <= now || current.holder === row.holder ||
            Option.exists(replacing, (previous) => previous === current.holder)
          if (free) rows.set(name, row)
          return free
        }),
      read: (name) => Effect.sync(() => Option.fromNullable(rows.get(name))),
      renew: (name, holder, expiresAt) =>
        Effect.sync(() => {
          const current = rows.get(name)
          if (current === undefined || current.holder !== holder) return false
          rows.set(name, { ...current, expiresAt })
          return true
        }),
      release: (name, holder) =>
        Effect.sync(() => {
          if (rows.get(name)?.holder === holder) rows.delete(name)
        })
    }
    return makeService(store, options)
  })
