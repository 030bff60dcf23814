/**
 * The HTTP API's access rules (`Security.ts`, `Redaction.ts`), in process:
 * the real handlers, middlewares and server middleware (`ApiLive.serveLayer`)
 * on a test server (ephemeral port), over the RayScheduler adapter (not
 * started) with scripted collectors. Each test builds its own server (with
 * or without a token), so that no two share a router.
 */
import { HttpApi, HttpClient, HttpClientRequest, type HttpClientResponse, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted, Stream } from "effect"
import type { Collector } from "../../src/app/collectors/Collector.js"
import { CollectorError } from "../../src/app/collectors/Collector.js"
import { type CollectorsJson, RayInfoApi, type RunResultJson } from "../../src/app/http/Api.js"
import * as ApiLive from "../../src/app/http/ApiLive.js"
import * as Redaction from "../../src/app/http/Redaction.js"
import * as Security from "../../src/app/http/Security.js"
import * as RaySchedulerAdapter from "../../src/app/scheduling/RaySchedulerAdapter.js"
import { adapterLayer, itemsStub, type RunRecord, scriptedCollector } from "./support.js"

const TOKEN = "s3cret-token-0123456789abcdef"

const ItemsStub = itemsStub()

/** What the failing job's runs fail with: a command path, its stderr (a secret), a second line with a path. */
const LEAKY_ERROR = `command "/opt/private/bin/search" exited with code 2; stderr: API_KEY=abc123 rejected by ` +
  `https://api.example/v1\n    at /home/alice/tools/search.py:12`

/** A collector whose job `leaky:q` always fails with {@link LEAKY_ERROR}. */
const leaky: Collector = {
  name: "leaky",
  defaultInterval: Duration.hours(1),
  jobs: [{ param: "q" }],
  fetch: (param) => Stream.fail(new CollectorError({ instance: `leaky:${param}`, message: LEAKY_ERROR }))
}

/** A test server with or without a token, bound (as far as the guard knows) to `host`; and its job's runs. */
const server = (options: { readonly token?: string; readonly host?: string } = {}) => {
  const runs: Array<RunRecord> = []
  const layer = ApiLive.serveLayer({
    host: options.host ?? "127.0.0.1",
    token: Option.map(Option.fromNullable(options.token), Redacted.make)
  }).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(
      adapterLayer(RaySchedulerAdapter.layerNotStarted({ maxSleep: "1 hour" }), [
        scriptedCollector({ name: "search", intervalMinutes: 60, params: ["q"], runs }),
        leaky
      ])
    ),
    Layer.provideMerge(ItemsStub)
  )
  return { layer, runs }
}

const RUN = `/instances/${encodeURIComponent("search:q")}/run`
const RUN_LEAKY = `/instances/${encodeURIComponent("leaky:q")}/run`

/** The server's port (what its own `Host` header names). */
const port = Effect.map(HttpServer.HttpServer, (s) => s.address._tag === "TcpAddress" ? s.address.port : 0)

const send = (request: HttpClientRequest.HttpClientRequest) => HttpClient.execute(request)

const post = (path: string, headers: Record<string, string> = {}) =>
  send(HttpClientRequest.post(path).pipe(HttpClientRequest.setHeaders(headers)))

const get = (path: string, headers: Record<string, string> = {}) =>
  send(HttpClientRequest.get(path).pipe(HttpClientRequest.setHeaders(headers)))

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** The status, and the body (which must be empty). */
const refused = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.text, (body) => {
    assert.strictEqual(body, "", "a refusal says nothing about why")
    return response.status
  })

const collectors = (headers: Record<string, string> = {}) =>
  Effect.flatMap(get("/collectors", headers), (response) => response.json as Effect.Effect<typeof CollectorsJson.Type>)

const leakyInstance = (groups: typeof CollectorsJson.Type) => groups.find((g) => g.collector === "leaky")!.instances[0]!

describe("HTTP API security: mutations without a token configured", () => {
  it.live("POST without headers runs the job, as before", () => {
    const { layer, runs } = server()
    return Effect.gen(function*() {
      const response = yield* post(RUN)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(runs.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.live("a cross-site Origin is a 403 (empty body) and nothing runs; the server's own origin is accepted", () => {
    const { layer, runs } = server()
    return Effect.gen(function*() {
      assert.strictEqual(yield* Effect.flatMap(post(RUN, { origin: "http://evil.example" }), refused), 403)
      assert.strictEqual(yield* Effect.flatMap(post(RUN, { origin: "null" }), refused), 403)
      assert.strictEqual(runs.length, 0)
      const own = yield* post(RUN, { origin: `http://127.0.0.1:${yield* port}` })
      assert.strictEqual(own.status, 200)
      assert.strictEqual(runs.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.live("a text/plain or form POST is a 403 and nothing runs; a JSON one runs", () => {
    const { layer, runs } = server()
    return Effect.gen(function*() {
      const text = HttpClientRequest.post(RUN).pipe(HttpClientRequest.bodyText("x", "text/plain;charset=UTF-8"))
      assert.strictEqual(yield* Effect.flatMap(send(text), refused), 403)
      const form = HttpClientRequest.post(RUN).pipe(HttpClientRequest.bodyUrlParams({ a: "1" }))
      assert.strictEqual(yield* Effect.flatMap(send(form), refused), 403)
      const multipart = yield* post(RUN, { "content-type": "multipart/form-data; boundary=x" })
      assert.strictEqual(yield* refused(multipart), 403)
      assert.strictEqual(runs.length, 0)
      const json = HttpClientRequest.post(RUN).pipe(HttpClientRequest.bodyUnsafeJson({}))
      assert.strictEqual((yield* send(json)).status, 200)
      assert.strictEqual(runs.length, 1)
    }).pipe(Effect.provide(layer))
  })
})

describe("HTTP API security: mutations with RAYINFO_API_TOKEN", () => {
  it.live("no token, a wrong one, another scheme: 401 with an empty body, and nothing runs", () => {
    const { layer, runs } = server({ token: TOKEN })
    return Effect.gen(function*() {
      const none = yield* post(RUN)
      assert.strictEqual(yield* refused(none), 401)
      assert.strictEqual(none.headers["www-authenticate"], "Bearer")
      for (
        const authorization of [
          "Bearer wrong",
          `Bearer ${TOKEN.slice(0, -1)}x`, // same length
          `Bearer ${TOKEN.slice(0, -1)}`, // a prefix
          `Bearer ${TOKEN}x`,
          `Basic ${TOKEN}`,
          `Bearer`,
          TOKEN
        ]
      ) {
        assert.strictEqual(yield* Effect.flatMap(post(RUN, { authorization }), refused), 401, authorization)
      }
      // an unknown instance too: no probing of ids without the token
      assert.strictEqual(yield* Effect.flatMap(post("/instances/nope/run"), refused), 401)
      assert.strictEqual(runs.length, 0)
    }).pipe(Effect.provide(layer))
  })

  it.live("the right token runs the job (scheme in any case); an unknown instance is then a 404", () => {
    const { layer, runs } = server({ token: TOKEN })
    return Effect.gen(function*() {
      const response = yield* post(RUN, bearer(TOKEN))
      assert.strictEqual(response.status, 200)
      const result = (yield* response.json) as RunResultJson
      assert.strictEqual(result.outcome, "succeeded")
      assert.strictEqual((yield* post(RUN, { authorization: `bearer ${TOKEN}` })).status, 200)
      assert.strictEqual(runs.length, 2)
      assert.strictEqual((yield* post("/instances/nope/run", bearer(TOKEN))).status, 404)
    }).pipe(Effect.provide(layer))
  })

  it.live("with the right token, a cross-site Origin is still a 403", () => {
    const { layer, runs } = server({ token: TOKEN })
    return Effect.gen(function*() {
      const response = yield* post(RUN, { ...bearer(TOKEN), origin: "https://evil.example" })
      assert.strictEqual(yield* refused(response), 403)
      assert.strictEqual(runs.length, 0)
    }).pipe(Effect.provide(layer))
  })

  it.live("a text/plain POST without the token is refused (401); with it, it runs", () => {
    const { layer, runs } = server({ token: TOKEN })
    return Effect.gen(function*() {
      const text = HttpClientRequest.post(RUN).pipe(HttpClientRequest.bodyText("x", "text/plain"))
      assert.strictEqual(yield* Effect.flatMap(send(text), refused), 401)
      assert.strictEqual(runs.length, 0)
      const withToken = yield* send(text.pipe(HttpClientRequest.setHeaders(bearer(TOKEN))))
      assert.strictEqual(withToken.status, 200)
      assert.strictEqual(runs.length, 1)
    }).pipe(Effect.provide(layer))
  })

  it.live("GET endpoints stay open without the token", () => {
    const { layer } = server({ token: TOKEN })
    return Effect.gen(function*() {
      assert.strictEqual((yield* get("/status")).status, 200)
      assert.strictEqual((yield* get("/collectors")).status, 200)
      assert.strictEqual((yield* get("/items")).status, 200)
    }).pipe(Effect.provide(layer))
  })
})

describe("HTTP API security: the Host header (DNS rebinding) and limits", () => {
  it.live("bound to loopback: a Host that is not a loopback name with the server's port is a 421", () => {
    const { layer, runs } = server()
    return Effect.gen(function*() {
      const p = yield* port
      for (
        const host of [
          `evil.example:${p}`,
          `127.0.0.1:${p + 1}`,
          "127.0.0.1",
          `192.168.1.2:${p}`,
          `localhost.evil:${p}`
        ]
      ) {
        assert.strictEqual(yield* Effect.flatMap(get("/status", { host }), refused), 421, host)
        assert.strictEqual(yield* Effect.flatMap(post(RUN, { host }), refused), 421, host)
      }
      assert.strictEqual(runs.length, 0)
      for (const host of [`localhost:${p}`, `LOCALHOST:${p}`, `127.0.0.1:${p}`, `127.1.2.3:${p}`, `[::1]:${p}`]) {
        assert.strictEqual((yield* get("/status", { host })).status, 200, host)
      }
      assert.strictEqual((yield* post(RUN, { host: `localhost:${p}`, origin: `http://localhost:${p}` })).status, 200)
    }).pipe(Effect.provide(layer))
  })

  it.live("bound beyond loopback (with a token): any Host is served", () => {
    const { layer } = server({ token: TOKEN, host: "0.0.0.0" })
    return Effect.gen(function*() {
      const p = yield* port
      assert.strictEqual((yield* get("/status", { host: `rayinfo.example:${p}` })).status, 200)
      assert.strictEqual((yield* post(RUN, { host: `rayinfo.example:${p}`, ...bearer(TOKEN) })).status, 200)
    }).pipe(Effect.provide(layer))
  })

  it.live(`a body announced larger than ${Security.maxBodyBytes} bytes is a 413 and nothing runs`, () => {
    const { layer, runs } = server({ token: TOKEN })
    return Effect.gen(function*() {
      const big = HttpClientRequest.post(RUN).pipe(
        HttpClientRequest.setHeaders(bearer(TOKEN)),
        HttpClientRequest.bodyText("x".repeat(Security.maxBodyBytes + 1), "application/json")
      )
      assert.strictEqual(yield* Effect.flatMap(send(big), refused), 413)
      assert.strictEqual(runs.length, 0)
      const small = HttpClientRequest.post(RUN).pipe(
        HttpClientRequest.setHeaders(bearer(TOKEN)),
        HttpClientRequest.bodyText("x".repeat(1024), "application/json")
      )
      assert.strictEqual((yield* send(small)).status, 200)
    }).pipe(Effect.provide(layer))
  })
})

describe("HTTP API security: redaction", () => {
  const redacted = `command "${Redaction.pathPlaceholder}" exited with code 2`

  it.live("without a token configured, error texts are summaries: first line, no stderr, no paths", () => {
    const { layer } = server()
    return Effect.gen(function*() {
      const run = (yield* Effect.flatMap(post(RUN_LEAKY), (r) => r.json)) as RunResultJson
      assert.strictEqual(run.outcome, "failed")
      assert.strictEqual(run.error, redacted)
      const instance = leakyInstance(yield* collectors())
      assert.strictEqual(instance.id, "leaky:q", "ids are kept")
      assert.strictEqual(instance.last_error, redacted)
      assert.strictEqual(instance.last_outcome?.error, redacted)
      const text = JSON.stringify(yield* collectors())
      for (const secret of ["/opt/private", "API_KEY", "abc123", "/home/alice", "search.py"]) {
        assert.notInclude(text, secret)
      }
    }).pipe(Effect.provide(layer))
  })

  it.live("with a token: the token's holder sees the full texts, anyone else (no or wrong token) summaries", () => {
    const { layer } = server({ token: TOKEN })
    return Effect.gen(function*() {
      const run = (yield* Effect.flatMap(post(RUN_LEAKY, bearer(TOKEN)), (r) => r.json)) as RunResultJson
      assert.strictEqual(run.error, LEAKY_ERROR)
      const full = leakyInstance(yield* collectors(bearer(TOKEN)))
      assert.strictEqual(full.last_error, LEAKY_ERROR)
      assert.strictEqual(full.last_outcome?.error, LEAKY_ERROR)
      for (const headers of [{}, bearer("wrong")]) {
        const instance = leakyInstance(yield* collectors(headers))
        assert.strictEqual(instance.last_error, redacted)
        assert.strictEqual(instance.last_outcome?.error, redacted)
      }
    }).pipe(Effect.provide(layer))
  })
})

describe("Redaction.summary", () => {
  it("keeps the first line, drops a command's stderr, replaces absolute paths, cuts long texts", () => {
    assert.strictEqual(
      Redaction.summary("feed /srv/feeds/a.xml: cannot read /srv/feeds/a.xml: ENOENT, open '/srv/feeds/a.xml'"),
      "feed <path>: cannot read <path>: ENOENT, open '<path>'"
    )
    assert.strictEqual(
      Redaction.summary("feed https://x.example/rss?q=1: HTTP 500"),
      "feed https://x.example/rss?q=1: HTTP 500",
      "URLs are not paths"
    )
    assert.strictEqual(
      Redaction.summary("spawn ~/bin/tool ENOENT (cwd=C:\\Users\\bob)"),
      "spawn <path> ENOENT (cwd=<path>)"
    )
    assert.strictEqual(Redaction.summary("Error: boom\n    at f (/app/x.js:1:2)"), "Error: boom")
    assert.strictEqual(Redaction.summary("file:///etc/passwd is not a feed"), "<path> is not a feed")
    const long = Redaction.summary("x".repeat(1000))
    assert.strictEqual(long.length, Redaction.maxSummaryChars)
    assert.isTrue(long.endsWith("…"))
  })
})

describe("Security rules", () => {
  it("loopback HOSTs: localhost, ::1, 127.x.x.x; nothing else", () => {
    for (const host of ["127.0.0.1", "127.10.0.1", "localhost", "LocalHost", "::1"]) {
      assert.isTrue(Security.isLoopbackHost(host), host)
    }
    for (
      const host of ["0.0.0.0", "::", "", "192.168.1.10", "example.com", "127.0.0.256", "128.0.0.1", "localhost.x"]
    ) {
      assert.isFalse(Security.isLoopbackHost(host), host)
    }
  })

  it("the token is recognised only whole, as a Bearer credential", () => {
    const verify = Security.carriesToken(Option.some(Redacted.make(TOKEN)))
    assert.isTrue(verify(`Bearer ${TOKEN}`))
    assert.isFalse(verify(undefined))
    assert.isFalse(verify(`Bearer ${TOKEN.slice(1)}`))
    assert.isFalse(verify(`Bearer ${TOKEN.slice(0, 8)}`))
    assert.isFalse(verify(`Bearer ${TOKEN} extra`))
    assert.isFalse(Security.carriesToken(Option.none())(`Bearer ${TOKEN}`), "no token: nobody is authenticated")
  })

  it("every endpoint that is not a GET declares the MutationGuard", () => {
    const unguarded: Array<string> = []
    let mutations = 0
    HttpApi.reflect(RayInfoApi, {
      onGroup: () => {},
      onEndpoint: ({ endpoint, middleware }) => {
        if (endpoint.method === "GET" || endpoint.method === "HEAD" || endpoint.method === "OPTIONS") return
        mutations++
        if (![...middleware].some((m) => m.key === Security.MutationGuard.key)) {
          unguarded.push(`${endpoint.method} ${endpoint.path}`)
        }
      }
    })
    assert.isAbove(mutations, 0)
    assert.deepStrictEqual(unguarded, [])
  })
})
