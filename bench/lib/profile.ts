/**
 * Optional profiling of a sample's timed window. When the runner is given
 * `--profile DIR`, workers get `BENCH_PROFILE=DIR` and every scenario wraps
 * its timed part in `profileStart()` / `profileStop()`, which writes
 * `DIR/<scenario>-<contender>-<sample>.cpuprofile` (open it in Chrome
 * DevTools or VS Code). With `--profile-alloc` (`BENCH_PROFILE_KIND=alloc`)
 * it records a sampling allocation profile instead, collected objects
 * included, as `.heapprofile`: what the window allocated, by stack.
 * Without `--profile` both are no-ops.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import * as inspector from "node:inspector/promises"
import * as path from "node:path"

const dir = process.env.BENCH_PROFILE
const alloc = process.env.BENCH_PROFILE_KIND === "alloc"
let session: inspector.Session | undefined

export const profileStart = async (): Promise<void> => {
  if (dir === undefined || dir.length === 0 || session !== undefined) return
  session = new inspector.Session()
  session.connect()
  if (alloc) {
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true
    })
    return
  }
  await session.post("Profiler.enable")
  await session.post("Profiler.setSamplingInterval", { interval: 200 })
  await session.post("Profiler.start")
}

export const profileStop = async (): Promise<void> => {
  if (session === undefined || dir === undefined) return
  const name = process.env.BENCH_PROFILE_TAG ?? String(process.pid)
  mkdirSync(dir, { recursive: true })
  if (alloc) {
    const { profile } = await session.post("HeapProfiler.stopSampling")
    writeFileSync(path.join(dir, `${name}.heapprofile`), JSON.stringify(profile))
  } else {
    const { profile } = await session.post("Profiler.stop")
    writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile))
  }
  session.disconnect()
  session = undefined
}
