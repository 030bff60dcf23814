/**
 * LIVE (real processes, real time): reading what was collected without the
 * `sqlite3` shell. `rayinfo items` reads the database file read-only, while
 * the service (a child process of the real entrypoint) runs and writes to it,
 * and after it stopped; `GET /items` on the running service agrees with it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import {
  configYaml,
  feedCollector,
  freePort,
  getJson,
  root,
  runRayinfo,
  startService,
  temporaryFixture,
  waitFor
} from "./support.js"

interface ItemJson {
  readonly source: string
  readonly key: string
  readonly raw: { readonly title?: string; readonly link?: string }
  readonly fetched_at: string
  readonly stored_at: string
  readonly debug: boolean
}

const rayinfo = (...args: Array<string>) => runRayinfo(args)

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

describe("LIVE: rayinfo items and GET /items", () => {
  const fixture = temporaryFixture("rayinfo-items-", (dir) => {
    const news = path.join(dir, "news.xml")
    const notes = path.join(dir, "notes.atom")
    fs.copyFileSync(path.join(root, "examples/feeds/rayinfo-news.xml"), news)
    fs.copyFileSync(path.join(root, "examples/feeds/effect-notes.atom"), notes)
    const dbPath = path.join(dir, "db", "rayinfo.db")
    const config = path.join(dir, "rayinfo.yaml")
    fs.writeFileSync(config, configYaml(dbPath, feedCollector([news, notes], "1 hour")))
    return { config, dbPath, news }
  })

  it(
    "reads the items while the service runs (same as GET /items) and after it stopped; bad options exit 1",
    async () => {
      const { config, dbPath, news } = fixture()
      // nothing stored yet: a clear message, no stack trace
      const none = await rayinfo("items", "--config", config)
      expect(none.code).toBe(1)
      expect(none.stderr.trim()).toBe(`Cannot read the items in ${dbPath}: No database file at ${dbPath}`)

      const port = await freePort()
      const service = startService(config, port, { LOG_LEVEL: "warning" })
      try {
        const api = await waitFor("5 items on GET /items", 30_000, async () => {
          const page = (await getJson(port, "/items")).body as unknown as {
            items: Array<ItemJson>
            next_cursor: string | null
          }
          return page.items.length === 5 ? page : undefined
        })
        expect(api.next_cursor).toBeNull()

        // --json: the API's item objects, one per line, in the API's order — while the service holds the database
        const json = await rayinfo("items", "--config", config, "--json")
        expect(json.code, json.stderr).toBe(0)
        expect(lines(json.stdout).map((line) => JSON.parse(line))).toEqual(api.items)

        // the default: one line per item — stored time, source, title, link (when not the key), key
        const text = await rayinfo("items", "--config", config, "--source", `news:${news}`)
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
        const first = await rayinfo("items", "--config", config, "--limit", "3", "--json")
        expect(first.code, first.stderr).toBe(0)
        expect(lines(first.stdout).length).toBe(3)
        const cursor = /more: add --cursor (\S+)/.exec(first.stderr)?.[1]
        expect(cursor, first.stderr).toBeDefined()
        const second = await rayinfo("items", "--config", config, "--limit", "3", "--json", "--cursor", cursor!)
        expect(second.code, second.stderr).toBe(0)
        expect(second.stderr).not.toContain("more:")
        expect([...lines(first.stdout), ...lines(second.stdout)].map((line) => JSON.parse(line))).toEqual(api.items)

        service.child.kill("SIGTERM")
        expect(await service.exited, service.output()).toBe(0)
      } finally {
        service.child.kill("SIGKILL")
      }

      // the service stopped (database closed): still readable; filters combine
      const after = await rayinfo("items", "--config", config, "--collector", "news", "--since", "2000-01-01", "--json")
      expect(after.code, after.stderr).toBe(0)
      expect(lines(after.stdout).length).toBe(5)
      const future = await rayinfo("items", "--config", config, "--since", "2999-01-01T00:00:00+08:00")
      expect(future.code, future.stderr).toBe(0)
      expect(future.stdout).toBe("")
      expect(future.stderr.trim()).toBe("no items")

      const bad = await rayinfo("items", "--config", config, "--limit", "0")
      expect(bad.code).toBe(1)
      expect(bad.stderr.trim()).toBe("Invalid limit: expected an integer from 1 to 1000, got \"0\" (--limit)")
    },
    180_000
  )
})
