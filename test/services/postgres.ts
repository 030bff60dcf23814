/**
 * Tests that need the local PostgreSQL (127.0.0.1:5432, trust auth,
 * database `test`): `postgres.available` says whether it answers. When it
 * does not, the tests are skipped with the reason printed — unless
 * `CI=true`, where a missing service is a failure (CI's machine runs it).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Layer from "effect/Layer"
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
