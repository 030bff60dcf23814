/**
 * LIVE (real processes, real time): reading what was collected without the
 * `sqlite3` shell. `rayinfo items` reads the database file read-only, while
 * the service (a child process of the real entrypoint) runs and writes to it,
 * and after it stopped; `GET /items` on the running service agrees with it.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")

const rayinfo = (...args: Array<string>) => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, LOG_LEVEL: "warning" }
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
const waitFor = async <A>(what: string, ms: number, check: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + ms
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`)
}

interface ItemJson {
  readonly source: string
  readonly key: string
  readonly raw: { readonly title?: string; readonly link?: string }
  readonly fetched_at: string
  readonly stored_at: string
  readonly debug: boolean
}

describe("LIVE: rayinfo items and GET /items", () => {
  let dir: string
  let config: string
  let dbPath: string
  let news: string
  let notes: string

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-items-"))
    news = path.join(dir, "news.xml")
    notes = path.join(dir, "notes.atom")
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), news)
    fs.copyFileSync(path.join(root, "examples/feeds/effect-notes.atom"), notes)
    dbPath = path.join(dir, "db", "rayinfo.db")
    config = path.join(dir, "rayinfo.yaml")
    fs.writeFileSync(
      config,
      `storage: { path: ${JSON.stringify(dbPath)} }
collectors:
  - type: feed
    name: news
    interval: 1 hour
    feeds: [{ url: ${JSON.stringify(news)} }, { url: ${JSON.stringify(notes)} }]
`
    )
  })

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it(
    "reads the items while the service runs (same as GET /items) and after it stopped; bad options exit 1",
    async () => {
      // nothing stored yet: a clear message, no stack trace
      const none = rayinfo("items", "--config", config)
      expect(none.code).toBe(1)
      expect(none.stderr.trim()).toBe(`Cannot read the items in ${dbPath}: No database file at ${dbPath}`)

      const port = await freePort()
      const service: ChildProcess = spawn(process.execPath, [
        "--import",
        "tsx",
        "src/main.ts",
        "run",
        "--config",
        config
      ], {
        cwd: root,
        env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warning" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      service.stdout!.on("data", (chunk) => (output += chunk))
      service.stderr!.on("data", (chunk) => (output += chunk))
      const exited = new Promise<number | null>((resolve) => service.on("exit", (code) => resolve(code)))
      try {
        const api = await waitFor("5 items on GET /items", 30_000, async () => {
          const response = await fetch(`http://127.0.0.1:${port}/items`)
          const body = await response.json() as { items: Array<ItemJson>; next_cursor: string | null }
          return body.items.length === 5 ? body : undefined
        })
        expect(api.next_cursor).toBeNull()

        // --json: the API's item objects, one per line, in the API's order — while the service holds the database
        const json = rayinfo("items", "--config", config, "--json")
        expect(json.code, json.stderr).toBe(0)
        expect(lines(json.stdout).map((line) => JSON.parse(line))).toEqual(api.items)

        // the default: one line per item — stored time, source, title, link (when not the key), key
        const text = rayinfo("items", "--config", config, "--source", `news:${news}`)
        expect(text.code, text.stderr).toBe(0)
        const newsItems = api.items.filter((i) => i.source === `news:${news}`)
        expect(newsItems.length).toBe(3)
        expect(lines(text.stdout)).toEqual(
          newsItems.map((i) =>
            [i.stored_at, i.source, i.raw.title, i.raw.link === i.key ? undefined : i.raw.link, i.key]
              .filter((part) => part !== undefined)
              .join("  ")
          )
        )
        expect(lines(text.stdout)[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}news:/)

        // pages: --limit, then --cursor from the hint on stderr
        const first = rayinfo("items", "--config", config, "--limit", "3", "--json")
        expect(first.code, first.stderr).toBe(0)
        expect(lines(first.stdout).length).toBe(3)
        const cursor = /more: add --cursor (\S+)/.exec(first.stderr)?.[1]
        expect(cursor, first.stderr).toBeDefined()
        const second = rayinfo("items", "--config", config, "--limit", "3", "--json", "--cursor", cursor!)
        expect(second.code, second.stderr).toBe(0)
        expect(second.stderr).not.toContain("more:")
        expect([...lines(first.stdout), ...lines(second.stdout)].map((line) => JSON.parse(line))).toEqual(api.items)

        service.kill("SIGTERM")
        expect(await exited, output).toBe(0)
      } finally {
        service.kill("SIGKILL")
      }

      // the service stopped (database closed): still readable; filters combine
      const after = rayinfo("items", "--config", config, "--collector", "news", "--since", "2000-01-01", "--json")
      expect(after.code, after.stderr).toBe(0)
      expect(lines(after.stdout).length).toBe(5)
      const future = rayinfo("items", "--config", config, "--since", "2999-01-01T00:00:00+08:00")
      expect(future.code, future.stderr).toBe(0)
      expect(future.stdout).toBe("")
      expect(future.stderr.trim()).toBe("no items")

      const bad = rayinfo("items", "--config", config, "--limit", "0")
      expect(bad.code).toBe(1)
      expect(bad.stderr.trim()).toBe("Invalid limit: expected an integer from 1 to 1000, got \"0\" (--limit)")
    },
    180_000
  )
})
