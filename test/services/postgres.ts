/**
 * Tests that need the local PostgreSQL (127.0.0.1:5432, trust auth,
 * database `test`): `postgres.available` says whether it answers. When it
 * does not, the tests are skipped with the reason printed — unless
 * `CI=true`, where a missing service is a failure (CI's machine runs it).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as net from "node:net"

export const host = process.env.PGHOST ?? "127.0.0.1"
export const port = Number(process.env.PGPORT ?? 5432)
export const database = process.env.PGDATABASE ?? "test"
export const username = process.env.PGUSER ?? "postgres"

const reachable = (): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(3000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** Whether PostgreSQL answers; throws under `CI=true` when it does not. */
export const checkPostgres = async (): Promise<boolean> => {
  const ok = await reachable()
  if (!ok) {
    const reason = `PostgreSQL is not reachable on ${host}:${port}`
    if (process.env.CI === "true") throw new Error(`${reason}, and CI=true: CI must run the PostgreSQL tests`)
    console.warn(`SKIPPED: ${reason} (start it, or set PGHOST/PGPORT, to run these tests)`)
  }
  return ok
}

/** A client on the test database. */
export const pgLayer = (): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown> =>
  PgClient.layer({ host, port, database, username, maxConnections: 4 })

/** The connection URL of database `name` on the test server (with `PGPASSWORD` if set). */
export const urlOf = (name: string): Redacted.Redacted<string> => {
  const password = process.env.PGPASSWORD
  const user = password === undefined
    ? encodeURIComponent(username)
    : `${encodeURIComponent(username)}:${encodeURIComponent(password)}`
  return Redacted.make(`postgres://${user}@${host}:${port}/${encodeURIComponent(name)}`)
}

/** A database created by {@link freshDatabase}. */
export interface FreshDatabase {
  /** Its name, `rayinfo_t_<tag>_<random>`. */
  readonly name: string
  /** Its connection URL (see {@link urlOf}). */
  readonly url: Redacted.Redacted<string>
}

/** Runs `statement` (no parameters, outside a transaction) on the test database, through a client of its own. */
const onTestDatabase = (statement: string): Effect.Effect<void, unknown> =>
  Effect.scoped(
    Effect.flatMap(
      Layer.build(PgClient.layer({ host, port, database, username, maxConnections: 1 })),
      (context) => Context.get(context, SqlClient.SqlClient).unsafe(statement)
    )
  )

/**
 * A new empty database on the test server, `rayinfo_t_<tag>_<random>`
 * (`tag` lower-cased, other characters than `[a-z0-9_]` dropped), for tests
 * of tables that have no prefix (the app's). It is created through a
 * client on the test database and dropped when the scope closes, with
 * `DROP DATABASE ... WITH (FORCE)` (which ends any connection still open on
 * it). Dies if it cannot be created.
 */
export const freshDatabase = (tag: string): Effect.Effect<FreshDatabase, never, Scope.Scope> => {
  const clean = tag.toLowerCase().replace(/[^a-z0-9_]/g, "").slice(0, 30)
  const name = `rayinfo_t_${clean}_${crypto.randomBytes(6).toString("hex")}`
  return Effect.acquireRelease(
    Effect.as(Effect.orDie(onTestDatabase(`CREATE DATABASE ${name}`)), { name, url: urlOf(name) }),
    () =>
      onTestDatabase(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning(`could not drop the test database ${name}`, cause))
      )
  )
}
