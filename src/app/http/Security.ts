/**
 * The HTTP API's access rules (docs/operations.md, "Security"):
 *
 * - **Mutations** declare {@link MutationGuard} (`.middleware(MutationGuard)`
 *   on the endpoint, or on a group of mutations): when `RAYINFO_API_TOKEN`
 *   is set they need `Authorization: Bearer <token>` (else 401, empty body);
 *   whatever the token, a cross-site request (an `Origin` that is not
 *   `http(s)://<Host header>`) is refused with 403, and so is — without the
 *   token — a body a browser can send cross-site without asking
 *   (`text/plain`, a form).
 * - **Reads** that show more to the token's holder declare
 *   {@link CallerAuthentication}: it never refuses, it provides the
 *   {@link Caller} (authenticated or not), and the handler redacts
 *   (`Redaction.ts`) for anyone else.
 * - **Every request** goes through {@link requestGuard} (the server's
 *   middleware): bound to a loopback address, a `Host` header that is not a
 *   loopback name with the server's port is refused with 421 (DNS
 *   rebinding); a body announced larger than {@link maxBodyBytes} with 413,
 *   and no body is read beyond it.
 *
 * The token is compared in constant time (SHA-256 digests, `timingSafeEqual`),
 * and never logged.
 */
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash, timingSafeEqual } from "node:crypto"

// ---- contract ----------------------------------------------------------------

/** The API's credential: `Authorization: Bearer <RAYINFO_API_TOKEN>`. */
export const apiToken: HttpApiSecurity.Bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "RAYINFO_API_TOKEN, when the service has one")
)

/** Who is calling, as far as the API can tell: whether the request carries the configured token. */
export class Caller extends Context.Tag("rayinfo/http/Caller")<Caller, {
  /** The request carries `Authorization: Bearer <RAYINFO_API_TOKEN>` (never true when no token is set). */
  readonly authenticated: boolean
}>() {}

/**
 * The guard of every mutating endpoint: declare it on the endpoint (or its
 * group) and the endpoint is protected. Fails with 401 (`Unauthorized`,
 * empty body) when a token is set and the request does not carry it; with
 * 403 (`Forbidden`, empty body) on a cross-site `Origin`, or — without the
 * token — on a `text/plain` or form body. Provides the {@link Caller}.
 */
export class MutationGuard extends HttpApiMiddleware.Tag<MutationGuard>()("rayinfo/http/MutationGuard", {
  failure: Schema.Union(HttpApiError.Unauthorized, HttpApiError.Forbidden),
  provides: Caller,
  security: { bearer: apiToken }
}) {}

/**
 * For read endpoints that show more to the token's holder: never fails;
 * provides the {@link Caller}, authenticated only with the right token.
 */
export class CallerAuthentication
  extends HttpApiMiddleware.Tag<CallerAuthentication>()("rayinfo/http/CallerAuthentication", {
    provides: Caller,
    security: { bearer: apiToken }
  })
{}

// ---- settings ----------------------------------------------------------------

/**
 * The configured `RAYINFO_API_TOKEN`, read by the middleware layers when
 * they are built. Default: none (mutations are open, reads redacted).
 * `ApiLive.layer` provides it from the environment.
 */
export class ApiToken extends Context.Reference<ApiToken>()("rayinfo/http/ApiToken", {
  defaultValue: (): Option.Option<Redacted.Redacted<string>> => Option.none()
}) {}

/** The largest request body read: 64 KiB. A longer one is refused (413, or the read fails). */
export const maxBodyBytes = 64 * 1024

// ---- rules -------------------------------------------------------------------

/**
 * Whether `host` (a `HOST` to bind) is a loopback one: `localhost` (any
 * case), `::1` or `127.x.x.x`. Anything else (`0.0.0.0`, `::`, a name, an
 * interface's address) is reachable from other machines.
 */
export const isLoopbackHost = (host: string): boolean => {
  const name = host.trim().toLowerCase()
  return name === "localhost" || name === "::1" || isLoopbackIPv4(name)
}

const isLoopbackIPv4 = (name: string): boolean => {
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name)
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255)
}

/**
 * Whether a `Host` header names this server on loopback: `localhost`,
 * `127.x.x.x` or `[::1]`, with `port` (no port: 80).
 */
export const isLoopbackHostHeader = (header: string | undefined, port: number): boolean => {
  if (header === undefined) return false
  const match = /^(\[::1\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(header.trim().toLowerCase())
  if (match === null) return false
  const [, name, given] = match
  const hostOk = name === "[::1]" || name === "localhost" || isLoopbackIPv4(name!)
  return hostOk && Number(given ?? "80") === port
}

/** Whether the request's `Origin`, when it has one, is not the server's own (`http(s)://<Host header>`). */
const isCrossSite = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  const origin = headers.origin
  if (origin === undefined) return false
  const host = headers.host
  if (host === undefined) return true
  const own = origin.trim().toLowerCase()
  const name = host.trim().toLowerCase()
  return own !== `http://${name}` && own !== `https://${name}`
}

/**
 * The media types a page of another site can POST without the browser
 * asking the server first (CORS "simple" requests): a mutation refuses
 * them without the token.
 */
const SIMPLE_BODY_TYPES = new Set(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])

const isSimpleBody = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  const type = headers["content-type"]
  return type !== undefined && SIMPLE_BODY_TYPES.has(type.split(";")[0]!.trim().toLowerCase())
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/**
 * Whether an `Authorization` header carries `token` (scheme `Bearer`, any
 * case), compared in constant time: the SHA-256 digests of both, of equal
 * length whatever was sent, go through `timingSafeEqual`. Never true
 * without a token.
 */
export const carriesToken = (
  token: Option.Option<Redacted.Redacted<string>>
): (authorization: string | undefined) => boolean => {
  if (Option.isNone(token)) return () => false
  const expected = sha256(Redacted.value(token.value))
  return (authorization) => {
    const match = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")
    // the digest of something, so that a missing or malformed header takes as long as a wrong token
    const given = sha256(match?.[1] ?? "")
    return timingSafeEqual(given, expected) && match !== null
  }
}

// ---- implementation ----------------------------------------------------------

/** {@link MutationGuard} with the {@link ApiToken} in the context where it is built. */
export const MutationGuardLive: Layer.Layer<MutationGuard> = Layer.effect(
  MutationGuard,
  Effect.map(ApiToken, (token) => {
    const verify = carriesToken(token)
    return MutationGuard.of({
      bearer: () =>
        Effect.gen(function*() {
          const { headers } = yield* HttpServerRequest.HttpServerRequest
          const authenticated = verify(headers.authorization)
          if (Option.isSome(token) && !authenticated) return yield* new HttpApiError.Unauthorized()
          if (isCrossSite(headers)) return yield* new HttpApiError.Forbidden()
          if (!authenticated && isSimpleBody(headers)) return yield* new HttpApiError.Forbidden()
          return { authenticated }
        })
    })
  })
)

/** {@link CallerAuthentication} with the {@link ApiToken} in the context where it is built. */
export const CallerAuthenticationLive: Layer.Layer<CallerAuthentication> = Layer.effect(
  CallerAuthentication,
  Effect.map(ApiToken, (token) => {
    const verify = carriesToken(token)
    return CallerAuthentication.of({
      bearer: () =>
        Effect.map(HttpServerRequest.HttpServerRequest, (request) => ({
          authenticated: verify(request.headers.authorization)
        }))
    })
  })
)

/** Both middlewares' implementations. */
export const middlewareLayer: Layer.Layer<MutationGuard | CallerAuthentication> = Layer.merge(
  MutationGuardLive,
  CallerAuthenticationLive
)

/** A 401 names the scheme it wants (RFC 6750), and nothing else. */
const challenge: HttpApp.PreResponseHandler = (_request, response) =>
  Effect.succeed(
    response.status === 401 ? HttpServerResponse.setHeader(response, "www-authenticate", "Bearer") : response
  )

/** Options of {@link requestGuard}. */
export interface RequestGuardOptions {
  /** The server is bound to a loopback address: check the `Host` header. */
  readonly loopback: boolean
  /** The port the server listens on (what a `Host` header must name). */
  readonly port: number
}

/**
 * The server's middleware, applied to every request before routing: on
 * loopback, a `Host` that is not a loopback name with the server's port is
 * refused with 421 Misdirected Request (DNS rebinding); a `Content-Length`
 * beyond {@link maxBodyBytes} with 413; bodies are read up to
 * {@link maxBodyBytes} (`HttpIncomingMessage.MaxBodySize`). A 401 gets
 * `WWW-Authenticate: Bearer`. Refusals have empty bodies.
 */
export const requestGuard =
  (options: RequestGuardOptions) =>
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (options.loopback && !isLoopbackHostHeader(request.headers.host, options.port)) {
        return Effect.succeed(HttpServerResponse.empty({ status: 421 }))
      }
      const length = request.headers["content-length"]
      if (length !== undefined && Number(length) > maxBodyBytes) {
        return Effect.succeed(HttpServerResponse.empty({ status: 413 }))
      }
      // the app writes its response itself: a pre-response handler is how a header gets added to it
      return Effect.zipRight(
        HttpApp.appendPreResponseHandler(challenge),
        HttpIncomingMessage.withMaxBodySize(app, Option.some(maxBodyBytes))
      )
    })
