import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import * as SqlPipeline from "../../src/app/pipeline/SqlPipeline.js"
import * as Database from "../../src/app/storage/Database.js"
import * as ItemsModule from "../../src/app/storage/Items.js"
import { Items } from "../../src/app/storage/Items.js"
import { events, pipelineSuite, run } from "./SqlPipelineSuite.js"
import { lockingConnection, sqlite, tempDbFile } from "./tempDb.js"

pipelineSuite(sqlite)

describe("SqlPipeline (SQLite): locks", () => {
  it.live("an insert that fails (database locked) loses nothing: the next run stores the items", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = yield* tempDbFile
      const layer = Layer.mergeAll(SqlPipeline.layer(), ItemsModule.layer).pipe(
        Layer.provideMerge(Database.layer({ filename, busyTimeout: "100 millis" }))
      )
      yield* Effect.gen(function*() {
        // another process holds the write lock
        const other = lockingConnection(filename)
        other.exec("BEGIN IMMEDIATE")
        const failed = yield* Effect.exit(run(Stream.fromIterable(events(3))))
        other.exec("ROLLBACK")
        other.close()
        assert.isTrue(Exit.isFailure(failed), "the locked insert fails")
        assert.strictEqual(yield* Effect.flatMap(Items, (items) => items.count), 0)
        // the same items again, once the lock is gone: stored, not "duplicates"
        assert.deepStrictEqual(yield* run(Stream.fromIterable(events(3))), { received: 3, duplicates: 0, stored: 3 })
        assert.strictEqual(yield* Effect.flatMap(Items, (items) => items.count), 3)
      }).pipe(Effect.provide(layer))
    })))
})
