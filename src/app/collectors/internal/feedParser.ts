/**
 * Parses RSS 2.0, RSS 1.0 (RDF) and Atom documents into a flat list of
 * items, with fast-xml-parser configured for hostile input:
 *
 * - the document is validated first (`XMLValidator`): malformed XML is an
 *   error, not a best-effort parse;
 * - DOCTYPE entities are never expanded: the entity decoder only knows the
 *   five predefined XML entities (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;`)
 *   and numeric character references, so a "billion laughs" or quadratic
 *   blow-up document stays the size it is. A decoded reference is never longer
 *   than its source text;
 * - external entities (`<!ENTITY x SYSTEM "...">`) and parameter entities make
 *   the parse fail (fast-xml-parser rejects them); nothing is ever fetched or
 *   read;
 * - at most 16 entity declarations of at most 1024 characters each are
 *   accepted in a DOCTYPE, and elements nest at most 100 deep.
 *
 * Atom `summary` / `content` are read unparsed (stop nodes), so `type="xhtml"`
 * keeps its markup in order; `text` / `html` ones are decoded.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { type EntityDecoderOptions, XMLParser } from "fast-xml-parser"

/** One item of a feed, every field a non-empty string or absent. */
export interface FeedItem {
  readonly title?: string
  readonly link?: string
  /** RSS guid, Atom id, RDF `rdf:about`. */
  readonly id?: string
  /** As written in the feed (date parsing is the caller's). */
  readonly published?: string
  readonly summary?: string
  readonly author?: string
}

/** A parsed feed. */
export interface ParsedFeed {
  readonly format: "rss" | "rdf" | "atom"
  readonly title: string | undefined
  readonly items: ReadonlyArray<FeedItem>
}

const XML_ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }

const ENTITY_REFERENCE = /&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([A-Za-z][A-Za-z0-9._-]{0,31}));/g

const isAllowedCodePoint = (cp: number): boolean =>
  cp === 0x9 || cp === 0xA || cp === 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
  (cp >= 0x10000 && cp <= 0x10FFFF)

/**
 * Decodes the predefined XML entities and numeric character references (of
 * characters XML allows); leaves every other reference as written.
 */
export const decodeXmlEntities = (text: string): string =>
  text.indexOf("&") === -1 ? text : text.replace(
    ENTITY_REFERENCE,
    (reference: string, hex: string | undefined, decimal: string | undefined, name: string | undefined) => {
      if (name !== undefined) return Object.hasOwn(XML_ENTITIES, name) ? XML_ENTITIES[name]! : reference
      const cp = hex !== undefined ? parseInt(hex, 16) : parseInt(decimal!, 10)
      return isAllowedCodePoint(cp) ? String.fromCodePoint(cp) : reference
    }
  )

/**
 * fast-xml-parser's entity decoder hook: DOCTYPE ("input") and external
 * entities are dropped, so only {@link decodeXmlEntities} applies.
 */
const entityDecoder: EntityDecoderOptions = {
  setExternalEntities: () => {},
  addInputEntities: () => {},
  reset: () => {},
  setXmlVersion: () => {},
  decode: decodeXmlEntities
}

const ARRAY_PATHS: ReadonlySet<string> = new Set([
  "rss.channel.item",
  "rdf:RDF.item",
  "feed.entry",
  "feed.entry.link"
])

/** Atom text constructs kept unparsed, so that XHTML content keeps its markup and order. */
const RAW_PATHS: ReadonlyArray<string> = ["feed.entry.content", "feed.entry.summary"]

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@_",
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: {
    enabled: true,
    maxEntityCount: 16,
    maxEntitySize: 1024,
    maxTotalExpansions: 10_000,
    maxExpandedLength: 100_000
  },
  htmlEntities: false,
  entityDecoder,
  maxNestedTags: 100,
  stopNodes: [...RAW_PATHS],
  isArray: (_name, jPath) => typeof jPath === "string" && ARRAY_PATHS.has(jPath)
})

type XmlNode = Readonly<Record<string, unknown>>

const isNode = (u: unknown): u is XmlNode => typeof u === "object" && u !== null && !Array.isArray(u)

const first = (u: unknown): unknown => (Array.isArray(u) ? u[0] : u)

const nonEmpty = (s: string): string | undefined => {
  const trimmed = s.trim()
  return trimmed === "" ? undefined : trimmed
}

/** Every text under `u` (attributes excluded), joined by spaces. */
const allText = (u: unknown, out: Array<string>): void => {
  if (typeof u === "string") out.push(u)
  else if (typeof u === "number" || typeof u === "boolean") out.push(String(u))
  else if (Array.isArray(u)) { for (const element of u) allText(element, out) }
  else if (isNode(u)) {
    for (const key of Object.keys(u)) if (!key.startsWith("@_")) allText(u[key], out)
  }
}

/** The text of an element: a string, or all text nested in it (e.g. `#text` of an element with attributes). */
const text = (u: unknown): string | undefined => {
  const value = first(u)
  if (typeof value === "string") return nonEmpty(value)
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  if (!isNode(value)) return undefined
  const parts: Array<string> = []
  allText(value, parts)
  return nonEmpty(parts.map((p) => p.trim()).filter((p) => p !== "").join(" "))
}

/** An element as a node; an empty element (parsed as "") as an empty node. */
const element = (u: unknown): XmlNode | undefined => {
  const value = first(u)
  return isNode(value) ? value : typeof value === "string" ? {} : undefined
}

const attribute = (u: unknown, name: string): string | undefined => {
  const value = first(u)
  return isNode(value) ? text(value[`@_${name}`]) : undefined
}

const firstText = (node: XmlNode, ...keys: ReadonlyArray<string>): string | undefined => {
  for (const key of keys) {
    const value = text(node[key])
    if (value !== undefined) return value
  }
  return undefined
}

/** Builds a {@link FeedItem} without absent fields (exactOptionalPropertyTypes). */
const item = (fields: { readonly [K in keyof FeedItem]-?: string | undefined }): FeedItem => {
  const out: { -readonly [K in keyof FeedItem]: string } = {}
  for (const [key, value] of Object.entries(fields) as Array<[keyof FeedItem, string | undefined]>) {
    if (value !== undefined) out[key] = value
  }
  return out
}

const isHttpUrl = (s: string): boolean => /^https?:\/\//i.test(s)

const rssItem = (u: unknown): FeedItem => {
  const node = isNode(u) ? u : {}
  const guid = text(node.guid)
  const guidIsPermaLink = attribute(node.guid, "isPermaLink")?.toLowerCase() !== "false"
  const link = text(node.link) ?? (guid !== undefined && guidIsPermaLink && isHttpUrl(guid) ? guid : undefined)
  return item({
    title: text(node.title),
    link,
    id: guid ?? attribute(node, "rdf:about"),
    published: firstText(node, "pubDate", "dc:date", "atom:published", "atom:updated"),
    summary: firstText(node, "description", "content:encoded"),
    author: firstText(node, "author", "dc:creator")
  })
}

const CDATA_SECTION = /<!\[CDATA\[([\s\S]*?)\]\]>/g

/** Character data as written in the document: CDATA sections unwrapped, entities decoded elsewhere. */
const characterData = (raw: string): string => {
  let out = ""
  let last = 0
  for (const match of raw.matchAll(CDATA_SECTION)) {
    out += decodeXmlEntities(raw.slice(last, match.index)) + match[1]
    last = match.index + match[0].length
  }
  return out + decodeXmlEntities(raw.slice(last))
}

/**
 * An Atom text construct read unparsed ({@link RAW_PATHS}): `type="xhtml"`
 * keeps its markup, `text` / `html` are decoded.
 */
const atomText = (u: unknown): string | undefined => {
  const value = first(u)
  if (typeof value === "string") return nonEmpty(characterData(value))
  if (!isNode(value)) return undefined
  const raw = typeof value["#text"] === "string" ? value["#text"] : ""
  return nonEmpty(attribute(value, "type") === "xhtml" ? raw : characterData(raw))
}

const atomLink = (links: unknown): string | undefined => {
  const all = (Array.isArray(links) ? links : [links]).filter(isNode)
  const alternate = all.find((l) => {
    const rel = attribute(l, "rel")
    return (rel === undefined || rel === "alternate") && attribute(l, "href") !== undefined
  })
  return attribute(alternate ?? all.find((l) => attribute(l, "href") !== undefined), "href")
}

const atomAuthor = (u: unknown): string | undefined => {
  const author = first(u)
  return isNode(author) ? (text(author.name) ?? text(author.email)) : text(author)
}

const atomEntry = (u: unknown): FeedItem => {
  const node = isNode(u) ? u : {}
  return item({
    title: text(node.title),
    link: atomLink(node.link),
    id: text(node.id),
    published: firstText(node, "published", "updated"),
    summary: atomText(node.summary) ?? atomText(node.content),
    author: atomAuthor(node.author)
  })
}

const asArray = (u: unknown): ReadonlyArray<unknown> => (u === undefined ? [] : Array.isArray(u) ? u : [u])

/**
 * Parses an RSS 2.0, RSS 1.0 or Atom document. Left: why it is not one
 * (malformed XML, refused DOCTYPE, not a feed).
 */
export const parseFeed = (xml: string): Either.Either<ParsedFeed, string> =>
  Either.try({
    try: (): unknown => parser.parse(xml, true),
    catch: (error) => `invalid XML: ${error instanceof Error ? error.message : String(error)}`
  }).pipe(Either.flatMap((document): Either.Either<ParsedFeed, string> => {
    if (!isNode(document)) return Either.left("not an RSS or Atom document")
    const rss = element(document.rss)
    if (rss !== undefined) {
      const channel = element(rss.channel)
      if (channel === undefined) return Either.left("RSS document without a <channel>")
      return Either.right({ format: "rss", title: text(channel.title), items: asArray(channel.item).map(rssItem) })
    }
    const rdf = element(document["rdf:RDF"])
    if (rdf !== undefined) {
      const channel = element(rdf.channel)
      return Either.right({
        format: "rdf",
        title: channel === undefined ? undefined : text(channel.title),
        items: asArray(rdf.item).map(rssItem)
      })
    }
    const feed = element(document.feed)
    if (feed !== undefined) {
      return Either.right({ format: "atom", title: text(feed.title), items: asArray(feed.entry).map(atomEntry) })
    }
    const root = Object.keys(document).find((key) => !key.startsWith("?") && !key.startsWith("#"))
    return Either.left(`not an RSS or Atom document (root element: ${root === undefined ? "none" : `<${root}>`})`)
  }))
