/**
 * LIVE (real processes, real time, the local PostgreSQL): the RayInfo
 * service on a cluster — 3 `rayinfo run` processes with
 * `RAYINFO_DATABASE_URL` on one fresh database, each a runner
 * (`RAYINFO_RUNNER_PORT`), sharing 4 command jobs due every 2 s. Each run
 * appends (job, pid of the service that ran it, start, end) to a log file.
 * Checked: runs of a job never overlap and each job runs about once per
 * interval in the whole cluster (not once per process); `/status` on every
 * process lists the 3 runners and the same runner for each job; a manual
 * trigger sent to one process runs in the process holding the job; a
 * SIGKILLed process's jobs move to the others within the lease
 * (`RAYINFO_RUNNER_LEASE`, 5 s here; measured and printed); a SIGTERMed one
 * exits 0 and hands its jobs over; `rayinfo items` reads the same items as
 * `GET /items`. Skipped with a reason when PostgreSQL is absent; a failure
 * under `CI=true` (test/services/postgres.ts).
 */
import { Effect, Exit, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { checkPostgres, freshDatabase } from "../services/postgres.js"
import {
  exitWithin,
  freePort,
  getJson,
  killQuietly,
  type Running,
  runRayinfo,
  startService,
  temporaryFixture,
  waitFor,
  waitForOutput
} from "./support.js"

const available = await checkPostgres()

const JOB = path.join(import.meta.dirname, "fixtures", "clusterJob.mjs")
const PARAMS = ["alpha", "beta", "gamma", "delta"]
const INTERVAL_MS = 2_000
const LEASE_S = 5

interface RunLine {
  readonly param: string
  readonly pid: number
  readonly start: number
  readonly end: number
}

interface ClusterJson {
  readonly runner: string
  readonly runners: ReadonlyArray<{ address: string; healthy: boolean; last_heartbeat: string }>
  readonly schedules_host: string | null
  readonly jobs: Readonly<Record<string, { runner: string | null; running_on: ReadonlyArray<string> }>>
  readonly problem: string | null
}

interface Node {
  readonly running: Running
  readonly http: number
  readonly address: string
}

const jobId = (param: string) => `probe:${param}`

const fixture = temporaryFixture("rayinfo-cluster-", (dir) => {
  const log = path.join(dir, "runs.log")
  fs.writeFileSync(log, "")
  const config = path.join(dir, "rayinfo.yaml")
  fs.writeFileSync(
    config,
    `storage: { path: ${JSON.stringify(path.join(dir, "unused.db"))} }
collectors:
  - type: command
    name: probe
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(JOB)}, "{param}", ${JSON.stringify(log)}]
    interval: ${INTERVAL_MS / 1000} seconds
    timeout: 30 seconds
    jobs: [${PARAMS.map((param) => `{ param: ${param} }`).join(", ")}]
`
  )
  return { dir, log, config }
})

const readRuns = (log: string): Array<RunLine> =>
  fs.readFileSync(log, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as RunLine)

const clusterOf = async (node: Node): Promise<ClusterJson> => {
  const { body } = await getJson(node.http, "/status")
  expect(body.cluster, "cluster mode: /status has a cluster section").not.toBeNull()
  return body.cluster as unknown as ClusterJson
}

/**
 * Each job's holder once every node has named the same one for every job
 * for 6 s in a row (a joining runner takes its shards over a few lock
 * refreshes: an agreement during that move does not last).
 */
const stableHolders = async (nodes: ReadonlyArray<Node>, addresses: ReadonlySet<string>) => {
  let since = 0
  let last = ""
  return waitFor("every node naming the same holder for each job, for 6 s", 90_000, async () => {
    const holders = await agreedHolders(nodes, addresses)
    const key = holders === undefined ? "" : JSON.stringify([...holders])
    if (key === "" || key !== last) {
      last = key
      since = Date.now()
      return undefined
    }
    return Date.now() - since >= 6_000 ? holders : undefined
  })
}

/** Each job's holder, if every node names the same one for every job (and it is one of `addresses`). */
const agreedHolders = async (nodes: ReadonlyArray<Node>, addresses: ReadonlySet<string>) => {
  const views = await Promise.all(nodes.map(clusterOf))
  const holders = new Map<string, string>()
  for (const param of PARAMS) {
    const named = new Set(views.map((view) => view.jobs[jobId(param)]?.runner ?? null))
    const [only] = named
    if (named.size !== 1 || only === null || only === undefined || !addresses.has(only)) return undefined
    holders.set(param, only)
  }
  return holders
}

describe.skipIf(!available)("RayInfo on a cluster (3 service processes, one PostgreSQL database)", () => {
  const scope = Effect.runSync(Scope.make())
  const nodes: Array<Node> = []
  afterAll(async () => {
    for (const node of nodes) killQuietly(node.running.child.pid)
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it(
    "runs each job once per interval cluster-wide, routes triggers to the holder, moves jobs on a node loss",
    async () => {
      const { config, log } = fixture()
      const database = await Effect.runPromise(Scope.extend(freshDatabase("servicecluster"), scope))
      const url = Redacted.value(database.url)
      for (let i = 0; i < 3; i++) {
        const http = await freePort()
        const runnerPort = await freePort()
        const running = startService(config, http, {
          RAYINFO_DATABASE_URL: url,
          RAYINFO_RUNNER_HOST: "127.0.0.1",
          RAYINFO_RUNNER_PORT: String(runnerPort),
          RAYINFO_RUNNER_LEASE: String(LEASE_S),
          LOG_LEVEL: "info"
        })
        nodes.push({ running, http, address: `127.0.0.1:${runnerPort}` })
      }
      for (const node of nodes) await waitForOutput(node.running, /RayScheduler started with 4 job\(s\)/, 90_000)
      const addresses = new Set(nodes.map((node) => node.address))

      // the three runners are known everywhere, and every node names the same holder for each job
      await waitFor("3 healthy runners on every node", 60_000, async () => {
        const views = await Promise.all(nodes.map(clusterOf))
        return views.every((view) =>
            view.runners.filter((runner) => runner.healthy && addresses.has(runner.address)).length === 3
          )
          ? true
          : undefined
      })
      await stableHolders(nodes, addresses)
      for (const [index, node] of nodes.entries()) {
        expect((await clusterOf(node)).runner).toBe(nodes[index]!.address)
      }

      // a window of steady running: each job about once per interval in the whole cluster, never overlapping
      // meanwhile, /collectors on a node that does not hold a job shows the job's scheduled runs running on its holder
      const windowStart = Date.now()
      const seenRunning: Array<{ job: string; on: ReadonlyArray<string>; holder: string; asker: string }> = []
      while (Date.now() - windowStart < 8 * INTERVAL_MS) {
        for (const node of nodes) {
          const { body } = await getJson(node.http, "/collectors")
          for (const group of body as unknown as ReadonlyArray<{ instances: ReadonlyArray<Record<string, unknown>> }>) {
            for (const instance of group.instances) {
              const on = instance.running_on as ReadonlyArray<string> | null
              const holder = instance.runner as string | null
              expect(on, "cluster mode: running_on is a list").not.toBeNull()
              expect(addresses.has(holder ?? ""), `${String(instance.id)} is held by one of the runners`).toBe(true)
              if (on!.length > 0 && holder !== node.address) {
                expect(instance.running, "running_on set: running").toBe(true)
                seenRunning.push({ job: instance.id as string, on: on!, holder: holder!, asker: node.address })
              }
            }
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const windowEnd = Date.now()
      expect(seenRunning.length, "a run seen from a node that does not hold the job").toBeGreaterThan(0)
      // a scheduled run runs on the job's holder (as the same answer names it: shards may move under load)
      for (const seen of seenRunning) {
        expect(seen.on, `${seen.job} seen from ${seen.asker}`).toEqual([seen.holder])
      }
      const runs = readRuns(log)
      for (const param of PARAMS) {
        const mine = runs.filter((run) => run.param === param).sort((a, b) => a.start - b.start)
        for (let i = 1; i < mine.length; i++) {
          expect(mine[i]!.start, `${param}: run ${i} started before run ${i - 1} ended`).toBeGreaterThanOrEqual(
            mine[i - 1]!.end
          )
        }
        const inWindow = mine.filter((run) => run.start >= windowStart && run.start < windowEnd).length
        const expected = (windowEnd - windowStart) / INTERVAL_MS
        expect(inWindow, `${param}: runs in ${windowEnd - windowStart} ms`).toBeLessThanOrEqual(Math.ceil(expected) + 1)
        expect(inWindow, `${param}: runs in ${windowEnd - windowStart} ms`).toBeGreaterThanOrEqual(
          Math.floor(expected) - 2
        )
      }

      // a manual trigger sent to one node runs in the process holding the job
      const pidOf = new Map(nodes.map((node) => [node.address, node.running.child.pid!]))
      // (the holders again, right before the trigger and the kill: shards may have moved since the first look)
      const current = await stableHolders(nodes, addresses)
      const [param, holder] = [...current][0]!
      const receiver = nodes.find((node) => node.address !== holder)!
      const before = readRuns(log).length
      const response = await fetch(
        `http://127.0.0.1:${receiver.http}/instances/${encodeURIComponent(jobId(param))}/run`,
        { method: "POST" }
      )
      const outcome = await response.json() as Record<string, unknown>
      expect(response.status, JSON.stringify(outcome)).toBe(200)
      expect(outcome.outcome).toBe("succeeded")
      const triggered = readRuns(log).slice(before).filter((run) =>
        run.param === param && run.start >= Date.parse(outcome.started_at as string) - 50
      )
      expect(triggered.length, "the manual run is in the log").toBeGreaterThanOrEqual(1)
      expect(triggered[0]!.pid, `the manual run of ${param} ran on its holder ${holder}`).toBe(pidOf.get(holder))

      // SIGKILL the holder of that job: its jobs run on the others within the lease (plus the cluster's intervals)
      const victim = current.get(param)!
      const killed = nodes.find((node) => node.address === victim)!
      const killedPid = killed.running.child.pid!
      const killedJobs = [...current].filter(([, address]) => address === victim).map(([p]) => p)
      const killedAt = Date.now()
      killed.running.child.kill("SIGKILL")
      await killed.running.ended
      const survivors = nodes.filter((node) => node !== killed)
      const movedAt = await waitFor(`the jobs of ${victim} running elsewhere`, 60_000, async () => {
        const after = readRuns(log).filter((run) => run.start > killedAt)
        const ran = killedJobs.every((p) => after.some((run) => run.param === p && run.pid !== killedPid))
        // when the last of its jobs first ran elsewhere (a job may have moved just before the kill: the
        // last one is the takeover)
        return ran
          ? Math.max(
            ...killedJobs.map((p) =>
              Math.min(...after.filter((run) => run.param === p && run.pid !== killedPid).map((run) => run.start))
            )
          )
          : undefined
      })
      const takeover = movedAt - killedAt
      console.log(
        `serviceCluster: all ${killedJobs.length} job(s) of the killed node ran elsewhere within ${takeover} ms ` +
          `of the SIGKILL`
      )
      expect(takeover, "takeover within the lease plus the cluster's intervals").toBeLessThan(LEASE_S * 1000 + 15_000)
      let seen: ClusterJson | undefined
      await waitFor("the killed runner unhealthy or gone, its jobs held by the survivors", 60_000, async () => {
        const view = seen = await clusterOf(survivors[0]!)
        const dead = view.runners.find((runner) => runner.address === victim)
        const jobsMoved = PARAMS.every((p) => {
          const now = view.jobs[jobId(p)]?.runner
          return now !== null && now !== undefined && now !== victim
        })
        return (dead === undefined || !dead.healthy) && jobsMoved ? true : undefined
      }).catch((error) => {
        throw new Error(`${(error as Error).message}; last /status cluster: ${JSON.stringify(seen)}`)
      })

      // SIGTERM a second node: it exits 0 and its jobs move to the last one
      const [stopped, last] = survivors as [Node, Node]
      stopped.running.child.kill("SIGTERM")
      expect(await exitWithin(stopped.running, 60_000), stopped.running.output()).toBe(0)
      const stoppedAt = Date.now()
      await waitFor("every job held by the last node", 60_000, async () => {
        const view = await clusterOf(last)
        return PARAMS.every((p) => view.jobs[jobId(p)]?.runner === last.address) ? true : undefined
      })
      await waitFor("every job running on the last node", 30_000, async () => {
        const after = readRuns(log).filter((run) => run.start > stoppedAt)
        return PARAMS.every((p) => after.some((run) => run.param === p && run.pid === last.running.child.pid))
          ? true
          : undefined
      })
      const handover = Date.now() - stoppedAt
      console.log(`serviceCluster: after the SIGTERM, every job ran on the last node within ${handover} ms`)
      expect(handover, "a clean stop hands the jobs over without waiting for the lease").toBeLessThan(
        LEASE_S * 1000 + 10_000
      )

      // the runs never overlapped, through the kill and the stop included (except a run cut by the SIGKILL)
      const all = readRuns(log)
      for (const p of PARAMS) {
        const mine = all.filter((run) => run.param === p).sort((a, b) => a.start - b.start)
        for (let i = 1; i < mine.length; i++) {
          expect(mine[i]!.start, `${p}: overlapping runs`).toBeGreaterThanOrEqual(mine[i - 1]!.end)
        }
      }

      // `rayinfo items` reads the same database as GET /items
      // (items stored before an instant in the past: the service keeps storing meanwhile)
      const until = new Date(Date.now() - 2_000).toISOString()
      const api = await getJson(last.http, `/items?limit=20&until=${encodeURIComponent(until)}`)
      const cli = await runRayinfo(["items", "--config", config, "--json", "--limit", "20", "--until", until], {
        RAYINFO_DATABASE_URL: url
      })
      expect(cli.code, cli.stderr).toBe(0)
      const cliKeys = cli.stdout.split("\n").filter((line) => line !== "").map((line) =>
        (JSON.parse(line) as { key: string }).key
      )
      const apiKeys = (api.body.items as ReadonlyArray<{ key: string }>).map((item) => item.key)
      expect(apiKeys.length).toBe(20)
      expect(cliKeys).toEqual(apiKeys)
    },
    420_000
  )
})
