import { defineConfig } from "vitest/config"

/**
 * Two projects: every test against the memory layer, and the scheduler's
 * conformance tests again against the SQL layer (SQLite `:memory:`, see
 * `layerUnderTest` in test/support.ts).
 */
const conformance = [
  "test/Scheduler.test.ts",
  "test/Scheduler.property.test.ts",
  "test/Scheduler.deadLetters.test.ts",
  "test/Scheduler.workers.test.ts",
  "test/Scheduler.policy.test.ts",
  "test/Scheduler.schedules.test.ts",
  "test/Scheduler.tasks.test.ts",
  "test/Scheduler.metrics.test.ts"
]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "memory", include: ["test/**/*.test.ts"] } },
      { extends: true, test: { name: "sql", include: conformance, env: { RAY_SCHEDULER_LAYER: "sql" } } }
    ]
  }
})
