/**
 * LIVE (a real service process, a real headless Chromium): the dashboard at
 * `GET /`. Debian's `chromium` package (`.ci/run` installs it) driven by
 * playwright-core opens the page and checks what it shows against the API —
 * the per-source counters of `/scheduler/sources`, the next runs of
 * `/scheduler/schedules`, the failure of a command job, a dead letter, the
 * items and their search — then clicks Pause, Resume and Replay and sees
 * their effect in the page and in the API; with `RAYINFO_API_TOKEN` set, a
 * Pause without the token says 401 and works once the token is entered.
 *
 * The dead letter: a failing collector run ends its task normally in RayInfo
 * (the failure is recorded on the job, docs/architecture.md "Supervision"),
 * so the service makes no dead letter of it. The test makes one by the
 * library's own path, before the service starts, on the service's database:
 * a durable `Scheduler` whose consumer for the failing job's source fails an
 * occurrence (no retry) — the `Failed` dead letter a store holds after such
 * a run. The service serves it; Replay runs that occurrence through the job.
 *
 * The screenshot goes to docs/dashboard.png when `UPDATE_SCREENSHOT=1` or
 * when that file is missing; otherwise to a temporary file (CI leaves the
 * tree clean). Without Chromium the tests are skipped with a reason, and
 * fail under `CI=true`.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import { describe, expect, it } from "vitest"
import * as RunTasks from "../../src/app/scheduling/RunTasks.js"
import * as ConsumerRegistry from "../../src/scheduler/ConsumerRegistry.js"
import * as Scheduler from "../../src/scheduler/Scheduler.js"
import { Task } from "../../src/scheduler/Task.js"
import * as TaskConsumer from "../../src/scheduler/TaskConsumer.js"
import {
  copyExampleFeeds,
  exitWithin,
  feedCollector,
  freePort,
  getJson,
  killQuietly,
  root,
  type Running,
  startService,
  temporaryFixture,
  waitFor,
  writeConfig
} from "./support.js"

/** `CHROMIUM_PATH`, else `/usr/bin/chromium`, else `chromium` on `PATH`: the first executable one. */
const findChromium = (): string | undefined => {
  const onPath = (process.env.PATH ?? "").split(path.delimiter).filter((dir) => dir !== "").map((dir) =>
    path.join(dir, "chromium")
  )
  return [process.env.CHROMIUM_PATH, "/usr/bin/chromium", ...onPath].find((file) => {
    if (file === undefined || file === "") return false
    try {
      fs.accessSync(file, fs.constants.X_OK)
      return fs.statSync(file).isFile()
    } catch {
      return false
    }
  })
}

const executablePath = findChromium()
if (executablePath === undefined) {
  const reason = "no Chromium (set CHROMIUM_PATH, or install Debian's chromium package: /usr/bin/chromium)"
  if (process.env.CI === "true") throw new Error(`${reason}, and CI=true: CI must test the dashboard in a browser`)
  console.warn(`SKIPPED (the dashboard's browser tests): ${reason}`)
}

/** Generous bounds: CI is a busy 2-core machine. */
const WAIT_MS = 60_000

const TOKEN = "dashboard-e2e-token-0123456789abcdef"

interface SourceJson {
  readonly source: string
  readonly paused: boolean
  readonly stats: {
    readonly pending: number
    readonly in_flight: number
    readonly succeeded: number
    readonly failed: number
    readonly retried: number
  }
}
interface ScheduleJson {
  readonly id: string
  readonly source: string
  readonly every_seconds: number | null
  readonly next_run: string
}
interface InstanceJson {
  readonly id: string
  readonly error_count: number
  readonly last_outcome: { readonly outcome: string; readonly error: string | null } | null
}
interface DeadLetterJson {
  readonly task: { readonly id: string; readonly source: string }
  readonly reason: string
}
interface ItemJson {
  readonly source: string
  readonly key: string
  readonly raw: unknown
}

const sources = async (port: number) =>
  ((await getJson(port, "/scheduler/sources")).body as unknown as { sources: Array<SourceJson> }).sources
const schedules = async (port: number) =>
  ((await getJson(port, "/scheduler/schedules")).body as unknown as { schedules: Array<ScheduleJson> }).schedules
const instances = async (port: number) =>
  ((await getJson(port, "/collectors")).body as unknown as Array<{ instances: Array<InstanceJson> }>).flatMap((group) =>
    group.instances
  )
const deadLetters = async (port: number) =>
  ((await getJson(port, "/scheduler/dead-letters?limit=100")).body as unknown as {
    dead_letters: Array<DeadLetterJson>
  }).dead_letters

/** The rows of the page's table `#id`: each row's key (`data-k`) and its cells' texts. */
const tableRows = async (page: Page, id: string) => {
  const rows = page.locator(`#${id} tbody tr`)
  const out: Array<{ readonly key: string | null; readonly cells: Array<string> }> = []
  for (let i = 0; i < (await rows.count()); i++) {
    const row = rows.nth(i)
    out.push({ key: await row.getAttribute("data-k"), cells: await row.locator("th, td").allTextContents() })
  }
  return out
}

/** Waits until `check` (reading the page and the API) holds; its last mismatch is in the timeout's message. */
const until = (what: string, check: () => Promise<boolean | string>, running: Running) => {
  let last = ""
  return waitFor(what, WAIT_MS, async () => {
    const result = await check()
    if (result === true) return true
    last = typeof result === "string" ? result : ""
    return undefined
  }, running).catch((error: Error) => {
    throw new Error(`${error.message}${last === "" ? "" : `\nlast mismatch: ${last}`}`)
  })
}

/**
 * Whether the page's `#sources` table shows exactly the sources and counts
 * of `/scheduler/sources`, and (with zero counts) the sources of the
 * schedules that have none yet (jobs that did not run since the start), by name.
 */
const sourcesMatch = async (page: Page, port: number): Promise<true | string> => {
  const listed = await sources(port)
  const zero = { pending: 0, in_flight: 0, succeeded: 0, failed: 0, retried: 0 }
  for (const schedule of await schedules(port)) {
    if (!listed.some((s) => s.source === schedule.source)) {
      listed.push({ source: schedule.source, paused: false, stats: zero })
    }
  }
  listed.sort((a, b) => a.source < b.source ? -1 : a.source > b.source ? 1 : 0)
  const api = listed.map((s) => [
    s.source,
    s.paused ? "paused" : "active",
    String(s.stats.pending),
    String(s.stats.in_flight),
    String(s.stats.succeeded),
    String(s.stats.failed),
    String(s.stats.retried)
  ])
  const shown = (await tableRows(page, "sources")).map((row) => row.cells.slice(0, 7))
  return JSON.stringify(shown) === JSON.stringify(api)
    ? true
    : `page ${JSON.stringify(shown)} api ${JSON.stringify(api)}`
}

/**
 * Makes a `Failed` dead letter in the durable store of the database
 * `filename` (before the service opens it): a task of `source` with id `id`
 * whose consumer fails, without retries.
 */
const seedDeadLetter = (filename: string, source: string, id: string) =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(
        TaskConsumer.layer({
          name: source,
          consume: () => Effect.fail(new Error("the upstream API answered 500 Internal Server Error"))
        }).pipe(
          Layer.provideMerge(Scheduler.Scheduler.layerSql()),
          Layer.provideMerge(ConsumerRegistry.ConsumerRegistry.layer),
          Layer.provideMerge(SqliteClient.layer({ filename }))
        )
      )
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* scheduler.submit(yield* Task.create({ id, source, scheduleAt: DateTime.unsafeMake(Date.now() - 60_000) }))
      while (!(yield* scheduler.deadLetters).some((letter) => letter.task.id === id)) {
        yield* Effect.sleep("50 millis")
      }
    })).pipe(Effect.timeout("30 seconds"), Logger.withMinimumLogLevel(LogLevel.None))
  )

const openPage = async (browser: Browser, port: number) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: Array<string> = []
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text())
  })
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  await page.goto(`http://127.0.0.1:${port}/`)
  await page.locator("#updated", { hasText: /Updated/ }).waitFor({ timeout: WAIT_MS })
  return { page, problems }
}

const stop = async (service: Running) => {
  service.child.kill("SIGTERM")
  if ((await exitWithin(service, 30_000)) === "hung") killQuietly(service.child.pid)
}

const isPng = (file: string) => fs.readFileSync(file).subarray(0, 8).equals(Buffer.from("89504e470d0a1a0a", "hex"))

describe.skipIf(executablePath === undefined)("LIVE: the dashboard in headless Chromium", () => {
  const fixture = temporaryFixture("rayinfo-dashboard-", (dir) => {
    const feeds = copyExampleFeeds(dir)
    const failing = path.join(dir, "search-down.mjs")
    fs.writeFileSync(failing, `process.stderr.write("search backend unreachable\\n")\nprocess.exit(3)\n`)
    const configPath = writeConfig(
      dir,
      `${feedCollector(feeds, "1 hour")}  - type: command
    name: search
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(failing)}, "{param}"]
    interval: 1 hour
    jobs: [{ param: effect }]
`
    )
    fs.mkdirSync(path.join(dir, "data"), { recursive: true })
    return { configPath, database: path.join(dir, "data", "rayinfo.db"), feeds, screenshotDir: dir }
  })

  const failingJob = "search:effect"
  const deadId = `${RunTasks.occurrencePrefix(failingJob)}2026-01-01T00:00:00.000Z`

  it("shows what the API says; Pause, Resume and Replay act on the service", async () => {
    const { configPath, database, feeds, screenshotDir } = fixture()
    await seedDeadLetter(database, failingJob, deadId)
    const port = await freePort()
    const service = startService(configPath, port)
    let browser: Browser | undefined
    try {
      // every job ran once at start (interval 1 hour: nothing else runs during the test)
      await waitFor("the three jobs' first runs", WAIT_MS, async () => {
        const all = await instances(port)
        return all.length === 3 && all.every((i) => i.last_outcome !== null) ? true : undefined
      }, service)

      const response = await fetch(`http://127.0.0.1:${port}/`)
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8")
      const csp = response.headers.get("content-security-policy") ?? ""
      expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[^']+';/)
      expect(csp).toContain("connect-src 'self'")
      expect(csp).not.toContain("unsafe")
      const html = await response.text()
      expect(html.length).toBeLessThan(25_000)
      expect(html).not.toMatch(/\bsrc=|href="http|@import/) // no external asset

      browser = await chromium.launch({ executablePath: executablePath!, args: ["--no-sandbox"] })
      const { page, problems } = await openPage(browser, port)

      // per-source stats: the same sources and counts as /scheduler/sources
      await until("the sources table to match /scheduler/sources", () => sourcesMatch(page, port), service)
      expect((await sources(port)).map((s) => s.source).sort()).toEqual(
        [failingJob, ...feeds.map((f) => `news:${f}`)].sort()
      )

      // the timeline: each schedule's next run
      const planned = await schedules(port)
      expect(planned).toHaveLength(3)
      const nextRuns = ((await getJson(port, "/scheduler/schedules?next=24")).body as unknown as {
        schedules: Array<ScheduleJson & { next_runs: Array<string> }>
      }).schedules
      await until("the timeline to list /scheduler/schedules", async () => {
        const rows = await tableRows(page, "timeline")
        const keys = rows.map((row) => row.key).sort()
        return JSON.stringify(keys) === JSON.stringify(planned.map((s) => s.id).sort()) || JSON.stringify(keys)
      }, service)
      for (const schedule of planned) {
        const row = page.locator(`#timeline tbody tr[data-k="${schedule.id}"]`)
        expect(await row.locator("time").getAttribute("datetime")).toBe(schedule.next_run)
        expect(schedule.every_seconds).toBe(3600)
        expect(await row.locator("td").first().textContent()).toBe("every 1 h")
        // hourly: the runs in the next 6 hours (the page's window), one tick each
        const runs = nextRuns.find((s) => s.id === schedule.id)!.next_runs.filter((t) =>
          Date.parse(t) - Date.now() <= 6 * 3_600_000
        )
        expect(runs.length).toBeGreaterThanOrEqual(5)
        expect(await row.locator("td").nth(2).textContent()).toBe(String(runs.length))
        expect(await row.locator(".tick").count()).toBe(runs.length)
      }

      // the failure of the command job, as /collectors reports it
      const failed = (await instances(port)).find((i) => i.id === failingJob)!
      expect(failed.last_outcome?.outcome).toBe("failed")
      const failures = await tableRows(page, "failures")
      expect(failures.map((row) => row.key)).toEqual([failingJob])
      expect(failures[0]!.cells[1]).toBe("failed")
      expect(failures[0]!.cells[3]).toBe(failed.last_outcome!.error)
      expect(failures[0]!.cells[3]).toContain("exited with code 3")

      // the dead letter
      expect((await deadLetters(port)).map((d) => [d.task.id, d.reason])).toEqual([[deadId, "Failed"]])
      await until("the dead letter in the page", async () => {
        const rows = await tableRows(page, "dead")
        return rows.length === 1 && rows[0]!.key === deadId && rows[0]!.cells[2] === "Failed" ||
          JSON.stringify(rows)
      }, service)

      // the items: the first page of /items, and the search filters them
      const items = ((await getJson(port, "/items?limit=50")).body as unknown as { items: Array<ItemJson> }).items
      expect(items.length).toBeGreaterThan(3)
      await until("the items table to list /items", async () => {
        const keys = (await tableRows(page, "items")).map((row) => row.key)
        return JSON.stringify(keys) === JSON.stringify(items.map((i) => `${i.source}\n${i.key}`)) ||
          JSON.stringify(keys)
      }, service)

      // the screenshot, with a failure and a dead letter shown
      const update = process.env.UPDATE_SCREENSHOT === "1" || !fs.existsSync(path.join(root, "docs/dashboard.png"))
      const shot = update ? path.join(root, "docs/dashboard.png") : path.join(screenshotDir, "dashboard.png")
      await page.screenshot({ path: shot, fullPage: true })
      expect(isPng(shot)).toBe(true)
      expect(fs.statSync(shot).size).toBeGreaterThan(10_000)

      const query = "concurrency"
      const matching = items.filter((i) => JSON.stringify([i.source, i.key, i.raw]).toLowerCase().includes(query))
      expect(matching.length).toBeGreaterThan(0)
      expect(matching.length).toBeLessThan(items.length)
      await page.getByLabel("Search items").fill(query)
      await until("the search to filter the items", async () => {
        const keys = (await tableRows(page, "items")).map((row) => row.key)
        return JSON.stringify(keys) === JSON.stringify(matching.map((i) => `${i.source}\n${i.key}`)) ||
          JSON.stringify(keys)
      }, service)
      // Search asks the service (`q`): the page shows what GET /items?q= returns
      const searched = (await getJson(port, `/items?limit=50&q=${query}`)).body.items as ReadonlyArray<
        { source: string; key: string }
      >
      expect(searched.map((i) => i.key).sort()).toEqual(matching.map((i) => i.key).sort())
      await page.getByRole("button", { name: "Search", exact: true }).click()
      await until("the searched items", async () => {
        const keys = (await tableRows(page, "items")).map((row) => row.key)
        return JSON.stringify(keys) === JSON.stringify(searched.map((i) => `${i.source}\n${i.key}`)) ||
          JSON.stringify(keys)
      }, service)
      await page.getByLabel("Search items").fill("")
      await page.getByRole("button", { name: "Search", exact: true }).click()

      // Pause, then Resume, a source: in the page and in the API
      const source = `news:${feeds[0]}`
      const pausedInApi = async (paused: boolean) =>
        (await sources(port)).find((s) => s.source === source)?.paused === paused
      await page.getByRole("button", { name: `Pause ${source}`, exact: true }).click()
      await until("the source paused in /scheduler/sources", () => pausedInApi(true), service)
      await page.locator("#msg", { hasText: `Pause ${source}: done.` }).waitFor({ timeout: WAIT_MS })
      await until("the source paused in the page", () => sourcesMatch(page, port), service)
      expect(await page.locator(`#sources tbody tr[data-k="${source}"] td`).first().textContent()).toBe("paused")
      await page.getByRole("button", { name: `Resume ${source}`, exact: true }).click()
      await until("the source resumed in /scheduler/sources", () => pausedInApi(false), service)
      await until("the source resumed in the page", () => sourcesMatch(page, port), service)
      expect(await page.locator(`#sources tbody tr[data-k="${source}"] td`).first().textContent()).toBe("active")

      // Replay the dead letter: gone from the API and the page, and its occurrence ran the job once more
      const failedRuns = failed.error_count
      await page.getByRole("button", { name: `Replay ${deadId}`, exact: true }).click()
      await until(
        "the dead letter gone from /scheduler/dead-letters",
        async () => (await deadLetters(port)).length === 0,
        service
      )
      await page.locator("#dead tbody", { hasText: "No dead letters." }).waitFor({ timeout: WAIT_MS })
      await until(
        "the replayed occurrence to run the job",
        async () => (await instances(port)).find((i) => i.id === failingJob)!.error_count === failedRuns + 1,
        service
      )
      await page.locator("#msg", { hasText: `Replay ${deadId}: done.` }).waitFor({ timeout: WAIT_MS })

      expect(problems).toEqual([])
    } finally {
      await browser?.close()
      await stop(service)
    }
  }, 240_000)

  it("with RAYINFO_API_TOKEN: Pause without the token says 401; with it entered, Pause works", async () => {
    const { configPath, feeds } = fixture()
    const port = await freePort()
    const service = startService(configPath, port, { RAYINFO_API_TOKEN: TOKEN })
    let browser: Browser | undefined
    try {
      await waitFor(
        "the service",
        WAIT_MS,
        async () => (await getJson(port, "/status")).status === 200 || undefined,
        service
      )
      browser = await chromium.launch({ executablePath: executablePath!, args: ["--no-sandbox"] })
      const { page, problems } = await openPage(browser, port)
      const source = `news:${feeds[1]}`
      // the jobs ran in the first test (hourly): no counters since this start, listed from their schedules
      expect(await sources(port)).toEqual([])
      await until("the sources table to list the schedules' sources", () => sourcesMatch(page, port), service)
      const pause = page.getByRole("button", { name: `Pause ${source}`, exact: true })

      await pause.click()
      await page.locator("#msg", { hasText: "401" }).waitFor({ timeout: WAIT_MS })
      expect(await page.locator("#msg").textContent()).toContain("API token")
      expect((await sources(port)).some((s) => s.source === source && s.paused)).toBe(false)

      await page.getByLabel("API token").fill(TOKEN)
      await page.getByRole("button", { name: "Use token" }).click()
      await page.locator("#authstate", { hasText: "A token is set" }).waitFor({ timeout: WAIT_MS })
      await page.getByRole("button", { name: `Pause ${source}`, exact: true }).click()
      await until(
        "the source paused with the token",
        async () => (await sources(port)).find((s) => s.source === source)?.paused === true,
        service
      )
      await page.locator("#msg", { hasText: `Pause ${source}: done.` }).waitFor({ timeout: WAIT_MS })
      await until("the source paused in the page", () => sourcesMatch(page, port), service)
      expect(problems).toEqual([])
    } finally {
      await browser?.close()
      await stop(service)
    }
  }, 180_000)
})
