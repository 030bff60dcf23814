/**
 * Column schemas shared by the SQL stores, for what SQLite and PostgreSQL
 * return differently.
 */
import * as Schema from "effect/Schema"

/**
 * An integer column read on either database: SQLite returns a number;
 * PostgreSQL's driver returns `BIGINT` (int8, and so `COUNT(*)` unless cast)
 * as text, since the client installs no global int8 parser (the same
 * client serves `@effect/cluster`, whose snowflake ids exceed 2^53). Text is
 * decoded to a number and must be a safe integer (|n| < 2^53, which epoch
 * milliseconds and row ids are); a number encodes as itself.
 */
export const IntColumn: Schema.Schema<number, number | string> = Schema.Union(
  Schema.Number,
  Schema.NumberFromString.pipe(
    Schema.filter((n) => Number.isSafeInteger(n), { message: () => "expected an integer below 2^53" })
  )
)
