/**
 * One benchmark sample in a fresh process. The runner starts it with the job
 * as JSON in argv[2]; it prints one line `RESULT_MARKER + JSON` on stdout and
 * exits (exiting also drops whatever timers or connections a contender left).
 *
 *   node --expose-gc --import tsx bench/worker.ts '{"scenario":"drain","contender":"ray","params":{...}}'
 */
import type { Job, Params, SampleResult } from "./lib/protocol.js"
import { RESULT_MARKER } from "./lib/protocol.js"

type Runner = (contender: string, params: Params) => Promise<SampleResult>

const load = async (scenario: string): Promise<Runner> => {
  switch (scenario) {
    case "drain":
      return (await import("./scenarios/drain.js")).run
    case "submit":
      return (await import("./scenarios/submit.js")).run
    case "lateness":
      return (await import("./scenarios/lateness.js")).run
    case "mixed":
      return (await import("./scenarios/mixed.js")).run
    case "idle":
      return (await import("./scenarios/idle.js")).run
    case "virtual":
      return (await import("./scenarios/virtual.js")).run
    case "durable":
      return (await import("./scenarios/durable.js")).run
    case "cluster":
      return (await import("./scenarios/cluster.js")).run
    default:
      throw new Error(`unknown scenario ${scenario}`)
  }
}

const main = async (): Promise<void> => {
  const raw = process.argv[2]
  if (raw === undefined) throw new Error("usage: worker.ts '<job JSON>'")
  const job = JSON.parse(raw) as Job
  const run = await load(job.scenario)
  const result = await run(job.contender, job.params)
  const cpu = process.cpuUsage()
  const out: SampleResult = { ...result, cpuMs: (cpu.user + cpu.system) / 1000 }
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(out)}\n`, () => process.exit(0))
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error))
  process.exit(1)
})
