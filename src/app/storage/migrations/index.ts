/**
 * All schema migrations, by `<id>_<name>` (the id is the number before the
 * first underscore), for `Migrator.fromRecord`. Add new migrations here
 * with the next id; never edit or renumber an applied one.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Effect from "effect/Effect"
import createItems from "./0001_create_items.js"
import createJobState from "./0002_create_job_state.js"
import createJobMeta from "./0003_create_job_meta.js"
import createLeases from "./0004_create_leases.js"
import indexItemsBySource from "./0005_index_items_by_source.js"

/** The migrations, keyed `0001_create_items`, `0002_create_job_state`, ... */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_create_items": createItems,
  "0002_create_job_state": createJobState,
  "0003_create_job_meta": createJobMeta,
  "0004_create_leases": createLeases,
  "0005_index_items_by_source": indexItemsBySource
}
