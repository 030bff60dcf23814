/**
 * LIVE (real time, real processes): the commands of a service killed with
 * SIGKILL are reaped at its next start. Starts the real entrypoint
 * (`src/main.ts run`) on a configuration with one command collector whose
 * command starts a long-lived grandchild and then sleeps; kills the service
 * with SIGKILL while the command runs; checks that the command and the
 * grandchild survived it (orphans); starts the service again and checks that
 * both are killed; stops it with SIGTERM. Waits are bounded and generous;
 * every process started here is killed at the end, whatever happened.
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import {
  exitWithin,
  freePort,
  type Running,
  startService,
  temporaryFixture,
  waitFor,
  writeConfig
} from "../e2e/support.js"
import { isAlive, killAll, readPids } from "./support.js"

/** The process groups recorded in the database `filename` (read with better-sqlite3, read-only). */
const recordedGroups = (filename: string): Array<number> => {
  const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new(
    filename: string,
    options: { readonly readonly: boolean; readonly fileMustExist: boolean }
  ) => {
    prepare(sql: string): { all(): Array<{ readonly pgid: number }> }
    close(): void
  }
  let db
  try {
    db = new Sqlite(filename, { readonly: true, fileMustExist: true })
    return db.prepare("SELECT pgid FROM process_group").all().map((row) => row.pgid)
  } catch {
    return [] // not created or not migrated yet
  } finally {
    db?.close()
  }
}

describe("LIVE: commands left by a killed service", () => {
  const fixture = temporaryFixture("rayinfo-orphans-", (dir) => {
    const pidsFile = path.join(dir, "pids")
    const secondMarker = path.join(dir, "second-start")
    // first start: a grandchild that outlives everything, then a long sleep; second start: done at once
    const tool = path.join(dir, "tool.sh")
    fs.writeFileSync(
      tool,
      `if [ -e ${JSON.stringify(secondMarker)} ]; then echo '[]'; exit 0; fi
sleep 300 >/dev/null 2>&1 &
echo $! >> ${JSON.stringify(pidsFile)}
echo $$ >> ${JSON.stringify(pidsFile)}
sleep 300
`
    )
    const configPath = writeConfig(
      dir,
      `  - type: command
    name: tool
    command: /bin/sh
    args: [${JSON.stringify(tool)}]
    interval: 1 hour
    timeout: 10 minutes
`
    )
    return { dir, configPath, pidsFile, secondMarker }
  }, ({ pidsFile }) => killAll(readPids(pidsFile)))

  it("kill -9 leaves the command and its grandchild running; the next start kills them", async () => {
    const { configPath, dir, pidsFile, secondMarker } = fixture()
    const services: Array<Running> = []
    try {
      const port = await freePort()
      const first = startService(configPath, port)
      services.push(first)
      await waitFor(
        "the command and its grandchild to start",
        120_000,
        async () => readPids(pidsFile).length === 2 || undefined,
        first
      )
      const orphans = readPids(pidsFile)
      // the command runs; its group is recorded (right after the service started it, but not
      // necessarily before the command wrote its pids: a SIGKILL in between would leave it unrecorded)
      const database = path.join(dir, "data", "rayinfo.db")
      await waitFor(
        "the group to be recorded",
        60_000,
        async () => recordedGroups(database).includes(orphans[1]!) || undefined,
        first
      )

      first.child.kill("SIGKILL")
      expect(await exitWithin(first, 30_000), first.output()).toBeNull() // killed by the signal
      // nothing could kill them: they run on, orphaned
      for (const pid of orphans) expect(isAlive(pid), `process ${pid} survived the service`).toBe(true)

      fs.writeFileSync(secondMarker, "x")
      const second = startService(configPath, port)
      services.push(second)
      await waitFor(
        "the orphans to be killed",
        60_000,
        async () => orphans.every((pid) => !isAlive(pid)) || undefined,
        second
      )
      await waitFor(
        "the reaping to be logged",
        30_000,
        async () => second.output().includes("Killed the orphaned") || undefined,
        second
      )
      expect(second.output()).toContain(`Killed the orphaned process group ${orphans[1]} of tool`)

      // the second start's own run (the command prints "[]" at once now) is over: nothing runs at SIGTERM
      await waitFor(
        "the second run to end",
        60_000,
        async () => second.output().includes("tool: 0 new") || undefined,
        second
      )
      second.child.kill("SIGTERM")
      expect(await exitWithin(second, 60_000), second.output()).toBe(0)
    } finally {
      for (const service of services) service.child.kill("SIGKILL")
      killAll(readPids(pidsFile))
    }
  }, 300_000)
})
