import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Effect, FastCheck as fc, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll } from "vitest"
import {
  type Collector,
  CollectorError,
  defaultRetryAfter,
  type FetchError,
  type RawEvent,
  RetryableCollectorError
} from "../../src/app/collectors/Collector.js"
import * as Feed from "../../src/app/collectors/feed.js"
import { closedPort, collect, collectError, memoryStore, testServer, waitUntil } from "./support.js"

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/feeds/${name}`, import.meta.url))

const scratch = mkdtempSync(join(tmpdir(), "rayinfo-feed-test-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** Writes a generated document to a temp file; returns its path. */
const tempFeed = (name: string, content: string): string => {
  const path = join(scratch, name)
  writeFileSync(path, content)
  return path
}

type Store = ReturnType<typeof memoryStore>

/** Builds a feed collector and runs `f` with it, all requirements provided. */
const withFeed = <A, E, R>(
  options: Partial<Feed.FeedCollectorOptions>,
  f: (collector: Collector) => Effect.Effect<A, E, R>,
  store: Store = memoryStore()
) =>
  Feed.make({ feeds: [], ...options }).pipe(
    Effect.flatMap(f),
    Effect.provide(Layer.mergeAll(NodeHttpClient.layer, store.layer))
  )

const fetchAll = (param: string, options: Partial<Feed.FeedCollectorOptions> = {}, store?: Store) =>
  withFeed(options, (collector) => collect(collector.fetch(param)), store)

const fetchError = (param: string, options: Partial<Feed.FeedCollectorOptions> = {}, store?: Store) =>
  withFeed(options, (collector) => collectError(collector.fetch(param)), store)

const raw = (event: RawEvent | undefined): Record<string, unknown> => {
  assert.isDefined(event)
  return event!.raw as Record<string, unknown>
}

const assertCollectorError = (error: FetchError, ...fragments: ReadonlyArray<string>): void => {
  assert.instanceOf(error, CollectorError, error.message)
  for (const fragment of fragments) assert.include(error.message, fragment)
}

const assertRetryable = (error: FetchError, retryAfter: Duration.DurationInput, fragment?: string): void => {
  assert.instanceOf(error, RetryableCollectorError, error.message)
  assert.isTrue(
    Duration.equals((error as RetryableCollectorError).retryAfter, Duration.decode(retryAfter)),
    `retryAfter ${Duration.format((error as RetryableCollectorError).retryAfter)}`
  )
  if (fragment !== undefined) assert.include(error.message, fragment)
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

describe("feed collector: documents", () => {
  it.effect("parses RSS 2.0: keys, titles, links, dates, summaries, authors", () =>
    Effect.gen(function*() {
      const path = fixture("rss2.xml")
      const events = yield* fetchAll(path)
      assert.deepStrictEqual(events.map((e) => e.key), [
        "tag:news.example.org,2024:post-1", // guid
        "https://news.example.org/posts/2", // permalink guid
        "https://news.example.org/posts/3", // link
        `sha256:${sha256("Untitled link-less note\n")}` // title + link
      ])
      for (const event of events) {
        assert.strictEqual(event.source, `feed:${path}`)
        assert.isFalse(event.debug)
        // TestClock: the run happened at the epoch
        assert.isTrue(DateTime.Equivalence(event.fetchedAt, DateTime.unsafeMake(0)))
      }
      assert.deepStrictEqual(raw(events[0]), {
        title: "First post: Tom & Jerry’s <b>adventure</b>",
        link: "https://news.example.org/posts/1",
        id: "tag:news.example.org,2024:post-1",
        published: "2024-05-01T12:00:00.000Z",
        summary: "<p>Hello <b>world</b> &amp; friends</p>",
        author: "Alice",
        feedTitle: "Example News & Notes",
        feedUrl: path
      })
      // a permalink guid is the link; content:encoded when there is no description
      assert.deepStrictEqual(raw(events[1]), {
        title: "Second post",
        link: "https://news.example.org/posts/2",
        id: "https://news.example.org/posts/2",
        published: "2024-05-02T06:30:00.000Z",
        summary: "<p>Only full content here</p>",
        author: "bob@example.org (Bob)",
        feedTitle: "Example News & Notes",
        feedUrl: path
      })
      // an unparseable date is kept as written; missing fields are omitted
      assert.deepStrictEqual(raw(events[2]), {
        title: "Third post",
        link: "https://news.example.org/posts/3",
        published: "sometime last week",
        summary: "Plain text summary",
        feedTitle: "Example News & Notes",
        feedUrl: path
      })
      assert.deepStrictEqual(Object.keys(raw(events[3])).sort(), ["feedTitle", "feedUrl", "summary", "title"])
    }))

  it.effect("parses Atom: ids, alternate links, dates (naive = UTC), html and xhtml text, authors", () =>
    Effect.gen(function*() {
      const path = fixture("atom.xml")
      const events = yield* fetchAll(path)
      assert.deepStrictEqual(events.map((e) => e.key), [
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "tag:atom.example.org,2024:2"
      ])
      assert.deepStrictEqual(raw(events[0]), {
        title: "Atom <em>entry</em> one",
        link: "https://atom.example.org/entries/1",
        id: "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        published: "2024-05-03T16:30:02.000Z",
        summary: "Summary of entry one",
        author: "Carol",
        feedTitle: "Example Atom Feed",
        feedUrl: path
      })
      assert.deepStrictEqual(raw(events[1]), {
        title: "Atom entry two",
        link: "https://atom.example.org/entries/2",
        id: "tag:atom.example.org,2024:2",
        published: "2024-05-05T10:00:00.000Z",
        summary: "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Rich <b>content</b></p></div>",
        feedTitle: "Example Atom Feed",
        feedUrl: path
      })
    }))

  it.effect("parses RSS 1.0 (RDF)", () =>
    Effect.gen(function*() {
      const events = yield* fetchAll(fixture("rss1.xml"))
      assert.strictEqual(events.length, 1)
      assert.strictEqual(events[0]!.key, "https://rdf.example.org/a")
      assert.strictEqual(raw(events[0]).published, "2024-05-06T07:00:00.000Z")
      assert.strictEqual(raw(events[0]).feedTitle, "RDF Site Summary")
    }))

  it.effect("decodes the encoding named by the XML declaration", () =>
    Effect.gen(function*() {
      const events = yield* fetchAll(fixture("latin1.xml"))
      assert.strictEqual(raw(events[0]).title, "Crème brûlée")
      assert.strictEqual(raw(events[0]).feedTitle, "Café français")
    }))

  it.effect("reads relative paths against the cwd and file: URLs; name and debug flow into the events", () =>
    Effect.gen(function*() {
      const relativePath = relative(process.cwd(), fixture("rss2.xml"))
      assert.isFalse(relativePath.startsWith("/"))
      const fromRelative = yield* fetchAll(relativePath, { name: "news", debug: true })
      assert.strictEqual(fromRelative.length, 4)
      assert.strictEqual(fromRelative[0]!.source, `news:${relativePath}`)
      assert.isTrue(fromRelative.every((e) => e.debug))
      assert.strictEqual(raw(fromRelative[0]).feedUrl, relativePath)
      const fromUrl = yield* fetchAll(pathToFileURL(fixture("atom.xml")).href)
      assert.strictEqual(fromUrl.length, 2)
    }))

  it.effect("an empty channel is a run without events", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* fetchAll(fixture("empty-channel.xml")), [])
    }))

  it.effect("malformed XML is a CollectorError naming the feed", () =>
    Effect.gen(function*() {
      const path = fixture("malformed.xml")
      const error = yield* fetchError(path)
      assertCollectorError(error, path, "invalid XML")
      assert.strictEqual(error.instance, `feed:${path}`)
    }))

  it.effect("a document that is neither RSS nor Atom is a CollectorError naming the feed", () =>
    Effect.gen(function*() {
      const path = fixture("not-a-feed.xml")
      assertCollectorError(yield* fetchError(path), path, "not an RSS or Atom document", "<html>")
      const text = tempFeed("text.xml", "just some text, no XML at all")
      assertCollectorError(yield* fetchError(text), text, "invalid XML")
      const empty = tempFeed("empty.xml", "")
      assertCollectorError(yield* fetchError(empty), empty, "invalid XML")
    }))

  it.effect("a missing file, a file over maxBytes, an unsupported scheme, no param: CollectorError", () =>
    Effect.gen(function*() {
      const missing = join(scratch, "does-not-exist.xml")
      assertCollectorError(yield* fetchError(missing), missing, "not found (ENOENT)")
      const path = fixture("rss2.xml")
      assertCollectorError(yield* fetchError(path, { maxBytes: 100 }), path, "larger than 100 bytes")
      assertCollectorError(yield* fetchError("ftp://example.org/feed.xml"), "unsupported URL scheme")
      const noParam = yield* withFeed({}, (collector) => collectError(collector.fetch(undefined)))
      assertCollectorError(noParam, "needs a feed URL or path")
    }))

  it.live("a FIFO is refused before it is opened (no writer needed, no thread blocked): CollectorError", () =>
    Effect.gen(function*() {
      const fifo = join(scratch, "feed.fifo")
      execFileSync("mkfifo", [fifo])
      // opening a FIFO blocks until a writer appears: the run must not wait for one, nor for its timeout
      const error = yield* fetchError(fifo, { timeout: "1 hour" }).pipe(Effect.timeout("30 seconds"))
      assertCollectorError(error, fifo, "a FIFO, not a regular file")
    }))

  it.live("a directory, a character device: CollectorError naming what it is", () =>
    Effect.gen(function*() {
      assertCollectorError(yield* fetchError(scratch), scratch, "a directory, not a regular file")
      assertCollectorError(yield* fetchError("/dev/zero"), "/dev/zero", "a character device, not a regular file")
    }))

  it.live("a symbolic link to a regular file is read; a file without read permission is a CollectorError", () =>
    Effect.gen(function*() {
      const link = join(scratch, "link.xml")
      symlinkSync(fixture("rss2.xml"), link)
      assert.strictEqual((yield* fetchAll(link)).length, 4)
      if (process.getuid?.() !== 0) {
        const locked = tempFeed("locked.xml", rss2)
        chmodSync(locked, 0o000)
        assertCollectorError(yield* fetchError(locked), locked, "permission denied (EACCES)")
      }
    }))

  it.effect("jobs: one per feed, with its own interval or the default (30 minutes)", () =>
    withFeed(
      { feeds: [{ url: "https://a.example/rss" }, { url: "b.xml", interval: "5 minutes" }] },
      (collector) =>
        Effect.sync(() => {
          assert.strictEqual(collector.name, "feed")
          assert.isTrue(Duration.equals(collector.defaultInterval, Duration.minutes(30)))
          assert.deepStrictEqual(collector.jobs?.map((job) => job.param), ["https://a.example/rss", "b.xml"])
          assert.isUndefined(collector.jobs?.[0]?.interval)
          assert.isTrue(Duration.equals(collector.jobs![1]!.interval!, Duration.minutes(5)))
        })
    ))
})

/**
 * Heap growth and time of `effect`, measured on the real clock. Time bounds
 * on it are generous (a loaded machine must not fail them): they only catch
 * blow-ups (an expanded entity, a read that does not stop), which take far
 * longer or never end.
 */
const measure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const heapBefore = process.memoryUsage().heapUsed
    const start = performance.now()
    const result = yield* Effect.either(effect)
    return { result, millis: performance.now() - start, heapGrowth: process.memoryUsage().heapUsed - heapBefore }
  })

const MiB = 1024 * 1024

/** A bound on the real time of a step that must not blow up: 20 s. */
const GENEROUS_MILLIS = 20_000

describe("feed collector: hostile XML", () => {
  it.effect("billion laughs: DOCTYPE entities are not expanded; fast, small memory", () =>
    Effect.gen(function*() {
      const { heapGrowth, millis, result } = yield* measure(fetchAll(fixture("billion-laughs.xml")))
      assert.isTrue(result._tag === "Right", "the document is harmless once its entities are not expanded")
      if (result._tag === "Right") {
        assert.strictEqual(result.right.length, 1)
        assert.strictEqual(raw(result.right[0]).title, "&lol9;")
        assert.strictEqual(raw(result.right[0]).summary, "&lol; &lol9;&lol9;&lol9;")
      }
      assert.isBelow(millis, GENEROUS_MILLIS)
      assert.isBelow(heapGrowth, 64 * MiB)
    }))

  it.effect("quadratic blow-up (a large entity referenced 100 000 times): not expanded", () =>
    Effect.gen(function*() {
      const big = "x".repeat(1000)
      const document = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "${big}">]><rss version="2.0"><channel>` +
        `<title>Blow-up</title><item><guid>q</guid><title>${"&a;".repeat(100_000)}</title></item></channel></rss>`
      const path = tempFeed("quadratic.xml", document)
      const { heapGrowth, millis, result } = yield* measure(fetchAll(path))
      // expanded, the title alone would be 100 MB
      if (result._tag === "Right") {
        assert.strictEqual(String(raw(result.right[0]).title).length, 300_000)
      } else {
        assertCollectorError(result.left, path)
      }
      assert.isBelow(millis, GENEROUS_MILLIS)
      assert.isBelow(heapGrowth, 64 * MiB)
    }))

  it.effect("an oversized entity declaration or too many of them: CollectorError", () =>
    Effect.gen(function*() {
      const oversized = tempFeed(
        "oversized-entity.xml",
        `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "${"x".repeat(100_000)}">]><rss><channel/></rss>`
      )
      assertCollectorError(yield* fetchError(oversized), oversized)
      const declarations = Array.from({ length: 10_000 }, (_, i) => `<!ENTITY e${i} "v">`).join("")
      const many = tempFeed(
        "many-entities.xml",
        `<?xml version="1.0"?><!DOCTYPE rss [${declarations}]><rss><channel/></rss>`
      )
      assertCollectorError(yield* fetchError(many), many)
    }))

  it.effect("external entities (SYSTEM, parameter) are refused: CollectorError, nothing read", () =>
    Effect.gen(function*() {
      const xxe = fixture("xxe.xml")
      const error = yield* fetchError(xxe)
      assertCollectorError(error, xxe, "External entities are not supported")
      assert.notInclude(error.message, "root:")
      const parameter = fixture("xxe-parameter.xml")
      assertCollectorError(yield* fetchError(parameter), parameter)
    }))

  it.effect("deeply nested elements: CollectorError, no stack overflow", () =>
    Effect.gen(function*() {
      const depth = 50_000
      const path = tempFeed(
        "deep.xml",
        `<rss version="2.0"><channel>${"<a>".repeat(depth)}x${"</a>".repeat(depth)}</channel></rss>`
      )
      const { millis, result } = yield* measure(fetchAll(path))
      assert.isTrue(result._tag === "Left")
      if (result._tag === "Left") assertCollectorError(result.left, path)
      assert.isBelow(millis, GENEROUS_MILLIS)
    }))
})

const rss2 = readFileSync(fixture("rss2.xml"), "utf8")

describe("feed collector: HTTP", () => {
  it.scopedLive("200 with ETag / Last-Modified, then 304 for If-None-Match / If-Modified-Since", () =>
    Effect.gen(function*() {
      const lastModified = "Wed, 01 May 2024 12:00:00 GMT"
      const server = yield* testServer((request, response) => {
        if (request.headers["if-none-match"] === "\"v1\"") {
          response.writeHead(304).end()
          return
        }
        response.writeHead(200, {
          "content-type": "application/rss+xml",
          etag: "\"v1\"",
          "last-modified": lastModified
        })
        response.end(rss2)
      })
      const store = memoryStore()
      const url = `${server.url}/rss.xml`
      const instance = `feed:${url}`
      yield* withFeed({ feeds: [{ url }] }, (collector) =>
        Effect.gen(function*() {
          const first = yield* collect(collector.fetch(url))
          assert.strictEqual(first.length, 4)
          assert.strictEqual(first[0]!.source, instance)
          assert.deepStrictEqual(store.getMeta(instance, "http"), { etag: "\"v1\"", lastModified })
          assert.strictEqual(server.requests[0]!.headers["user-agent"], "RayInfo/0.1")
          assert.isUndefined(server.requests[0]!.headers["if-none-match"])

          const second = yield* collect(collector.fetch(url))
          assert.deepStrictEqual(second, [])
          assert.strictEqual(server.requests[1]!.headers["if-none-match"], "\"v1\"")
          assert.strictEqual(server.requests[1]!.headers["if-modified-since"], lastModified)
          assert.deepStrictEqual(store.getMeta(instance, "http"), { etag: "\"v1\"", lastModified })
        }), store)
    }))

  it.scopedLive("validators are stored only after a successful parse and a fully consumed stream", () =>
    Effect.gen(function*() {
      let body = "<rss><channel><item>broken"
      const server = yield* testServer((_request, response) => {
        response.writeHead(200, { etag: "\"v2\"" })
        response.end(body)
      })
      const store = memoryStore()
      const url = `${server.url}/feed`
      const error = yield* fetchError(url, {}, store)
      assertCollectorError(error, url, "invalid XML")
      assert.isUndefined(store.getMeta(`feed:${url}`, "http"))

      body = rss2
      const firstOnly = yield* withFeed({}, (collector) => collect(collector.fetch(url).pipe(Stream.take(1))), store)
      assert.strictEqual(firstOnly.length, 1)
      assert.isUndefined(store.getMeta(`feed:${url}`, "http"))

      assert.strictEqual((yield* fetchAll(url, {}, store)).length, 4)
      assert.deepStrictEqual(store.getMeta(`feed:${url}`, "http"), { etag: "\"v2\"" })
    }))

  it.scopedLive("429 with Retry-After in seconds: RetryableCollectorError with that duration", () =>
    Effect.gen(function*() {
      const server = yield* testServer((_request, response) => {
        response.writeHead(429, { "retry-after": "120" }).end("slow down")
      })
      assertRetryable(yield* fetchError(`${server.url}/feed`), Duration.seconds(120), "HTTP 429")
    }))

  it.scoped("503 with Retry-After as an HTTP date: the delay from now (TestClock)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2024, 4, 1, 12, 0, 0))
      const server = yield* testServer((_request, response) => {
        response.writeHead(503, { "retry-after": "Wed, 01 May 2024 12:05:00 GMT" }).end()
      })
      assertRetryable(yield* fetchError(`${server.url}/feed`), Duration.minutes(5), "HTTP 503")
    }))

  it.scopedLive("503 without Retry-After: the default retryAfter (1 hour), or the option", () =>
    Effect.gen(function*() {
      const server = yield* testServer((_request, response) => {
        response.writeHead(503).end()
      })
      assertRetryable(yield* fetchError(`${server.url}/feed`), defaultRetryAfter)
      assertRetryable(yield* fetchError(`${server.url}/feed`, { retryAfter: "10 minutes" }), Duration.minutes(10))
    }))

  it.scopedLive("500 and 404: CollectorError with the status", () =>
    Effect.gen(function*() {
      const server = yield* testServer((request, response) => {
        response.writeHead(request.url === "/missing" ? 404 : 500).end("oops")
      })
      const url = `${server.url}/feed`
      const error = yield* fetchError(url)
      assertCollectorError(error, url, "HTTP 500")
      assert.strictEqual(error.instance, `feed:${url}`)
      assertCollectorError(yield* fetchError(`${server.url}/missing`), "HTTP 404")
    }))

  it.scopedLive("a response over maxBytes: CollectorError (declared length, or counted while streaming)", () =>
    Effect.gen(function*() {
      const big = `<rss><channel>${"<item><title>x</title></item>".repeat(2000)}</channel></rss>`
      const server = yield* testServer((request, response) => {
        if (request.url === "/declared") {
          response.writeHead(200, { "content-length": Buffer.byteLength(big) }).end(big)
        } else {
          // chunked, no length: keeps writing far past the limit
          response.writeHead(200)
          let sent = 0
          const write = () => {
            while (sent < 10 * MiB && response.write("<item><title>x</title></item>".repeat(1000))) sent += 28_000
            if (sent < 10 * MiB) response.once("drain", write)
            else response.end("</channel></rss>")
          }
          response.write("<rss><channel>")
          write()
        }
      })
      assertCollectorError(yield* fetchError(`${server.url}/declared`, { maxBytes: 1024 }), "larger than 1024 bytes")
      const streamed = yield* measure(fetchError(`${server.url}/streamed`, { maxBytes: 64 * 1024 }))
      assert.isTrue(streamed.result._tag === "Right")
      if (streamed.result._tag === "Right") assertCollectorError(streamed.result.right, "larger than 65536 bytes")
      assert.isBelow(streamed.millis, GENEROUS_MILLIS)
    }))

  it.scoped("a server that never answers: RetryableCollectorError after the timeout (TestClock), connection closed", () =>
    Effect.gen(function*() {
      let closed = 0
      const server = yield* testServer((request) => {
        // never answers
        request.socket.once("close", () => closed++)
      })
      const fiber = yield* Effect.fork(fetchError(`${server.url}/feed`, { timeout: "1 minute" }))
      yield* waitUntil("the request to arrive", () => server.requests.length === 1)
      yield* TestClock.adjust(Duration.subtract(Duration.minutes(1), Duration.millis(1)))
      assert.isNull(fiber.unsafePoll(), "not before the timeout")
      yield* TestClock.adjust("1 millis")
      assertRetryable(yield* Fiber.join(fiber), defaultRetryAfter, "timed out after 1m")
      yield* waitUntil("the connection to be closed", () => closed === 1)
    }))

  it.scoped("a body that never ends: RetryableCollectorError after the timeout (TestClock), connection closed", () =>
    Effect.gen(function*() {
      let closed = 0
      const server = yield* testServer((request, response) => {
        request.socket.once("close", () => closed++)
        response.writeHead(200, { "content-type": "application/rss+xml" })
        response.write("<rss><channel><title>slow</title>")
        // ...and nothing more, ever
      })
      const fiber = yield* Effect.fork(fetchError(`${server.url}/feed`, { timeout: "1 minute" }))
      yield* waitUntil("the request to arrive", () => server.requests.length === 1)
      yield* TestClock.adjust("1 minute")
      assertRetryable(yield* Fiber.join(fiber), defaultRetryAfter, "timed out after 1m")
      yield* waitUntil("the connection to be closed", () => closed === 1)
    }))

  it.scopedLive("an interrupted fetch returns at once and aborts its request", () =>
    Effect.gen(function*() {
      let closed = 0
      const server = yield* testServer((request) => {
        request.socket.once("close", () => closed++)
      })
      const fiber = yield* Effect.fork(fetchAll(`${server.url}/feed`))
      yield* waitUntil("the request to arrive", () => server.requests.length === 1)
      const interrupted = yield* Fiber.interrupt(fiber).pipe(Effect.timeout("30 seconds"), Effect.option)
      assert.isTrue(Option.isSome(interrupted), "the interruption completed")
      yield* waitUntil("the connection to be closed", () => closed === 1)
    }))

  it.scopedLive("connection refused: RetryableCollectorError (transient)", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      assertRetryable(yield* fetchError(`http://127.0.0.1:${port}/feed`), defaultRetryAfter)
    }))

  it.scopedLive("redirects are followed; the User-Agent is configurable", () =>
    Effect.gen(function*() {
      const server = yield* testServer((request, response) => {
        if (request.url === "/old") response.writeHead(301, { location: "/new" }).end()
        else response.writeHead(200).end(rss2)
      })
      const events = yield* fetchAll(`${server.url}/old`, { userAgent: "Test/1.0" })
      assert.strictEqual(events.length, 4)
      assert.deepStrictEqual(server.requests.map((r) => r.url), ["/old", "/new"])
      assert.isTrue(server.requests.every((r) => r.headers["user-agent"] === "Test/1.0"))
    }))
})

describe("parseRetryAfter", () => {
  const now = Date.UTC(2024, 4, 1, 12, 0, 0)

  it("reads delay-seconds and HTTP dates (all three forms)", () => {
    assert.deepStrictEqual(Feed.parseRetryAfter("120", now), Option.some(Duration.seconds(120)))
    assert.deepStrictEqual(Feed.parseRetryAfter(" 120 ", now), Option.some(Duration.seconds(120)))
    assert.deepStrictEqual(Feed.parseRetryAfter("0", now), Option.some(Duration.zero))
    const hour = Option.some(Duration.millis(3_600_000))
    assert.deepStrictEqual(Feed.parseRetryAfter("Wed, 01 May 2024 13:00:00 GMT", now), hour)
    assert.deepStrictEqual(Feed.parseRetryAfter("Wednesday, 01-May-24 13:00:00 GMT", now), hour)
    assert.deepStrictEqual(Feed.parseRetryAfter("Wed May  1 13:00:00 2024", now), hour)
    // a date in the past is a zero delay
    assert.deepStrictEqual(Feed.parseRetryAfter("Wed, 01 May 2024 11:00:00 GMT", now), Option.some(Duration.millis(0)))
    assert.deepStrictEqual(Feed.parseRetryAfter("Thu, 01 Jan 1970 00:00:00 GMT", now), Option.some(Duration.millis(0)))
  })

  it("huge values stay finite: delay-seconds saturate, far dates are exact", () => {
    assert.deepStrictEqual(Feed.parseRetryAfter("99999999999999", now), Option.some(Duration.seconds(99999999999999)))
    const huge = Feed.parseRetryAfter("9".repeat(400), now)
    assert.deepStrictEqual(huge, Option.some(Duration.seconds(Number.MAX_SAFE_INTEGER)))
    const far = Feed.parseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now)
    assert.deepStrictEqual(far, Option.some(Duration.millis(Date.UTC(9999, 11, 31, 23, 59, 59) - now)))
    for (const value of [huge, far]) {
      assert.isTrue(Option.isSome(value) && Duration.isFinite(value.value), "finite")
    }
  })

  it("anything else is none: negative, fractional, signed, exponents, garbage, dates that do not exist", () => {
    for (
      const value of [
        "-5",
        "-0",
        "1.5",
        "+5",
        "1e3",
        "0x10",
        "Infinity",
        "NaN",
        "",
        "   ",
        "soon",
        "a 1",
        "May 1",
        "2024-05-01T13:00:00Z",
        "Wed, 01 May 2024",
        "Wed, 01 May 2024 13:00:00",
        "Wed, 01 May 2024 13:00:00 CET",
        "Wed, 31 Feb 2024 13:00:00 GMT",
        "Wed, 01 May 2024 24:00:00 GMT",
        "Wed, 01 Foo 2024 13:00:00 GMT",
        "Wed, 01 May 99999 13:00:00 GMT",
        "120, 130"
      ]
    ) {
      assert.deepStrictEqual(Feed.parseRetryAfter(value, now), Option.none(), JSON.stringify(value))
    }
  })

  it.prop(
    "always none or a finite, non-negative duration",
    [fc.oneof(fc.string(), fc.stringMatching(/^[0-9]{1,500}$/), fc.date().map((d) => d.toUTCString())), fc.integer()],
    ([value, nowMillis]) => {
      const parsed = Feed.parseRetryAfter(value, nowMillis)
      if (Option.isSome(parsed)) {
        assert.isTrue(Duration.isFinite(parsed.value), value)
        const millis = Duration.toMillis(parsed.value)
        assert.isTrue(Number.isFinite(millis) && millis >= 0, `${value}: ${millis}`)
      }
    }
  )
})
