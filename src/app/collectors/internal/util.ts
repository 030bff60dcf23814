/**
 * Helpers shared by the collectors: bounded reads, a bounded tail buffer,
 * stable hashing of JSON values.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"

/**
 * Reads `stream` to the end into one byte array, failing with
 * `tooLarge(bytesSeen)` as soon as more than `maxBytes` arrived (the stream is
 * then interrupted: nothing more is read).
 */
export const collectBytes = <E, R, E2>(
  stream: Stream.Stream<Uint8Array, E, R>,
  maxBytes: number,
  tooLarge: (bytesSeen: number) => E2
): Effect.Effect<Uint8Array, E | E2, R> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEach(stream, (chunk): Effect.Effect<void, E2> => {
      size += chunk.length
      if (size > maxBytes) return Effect.fail(tooLarge(size))
      chunks.push(chunk)
      return Effect.void
    }).pipe(Effect.map(() => concatBytes(chunks, size)))
  })

/** Concatenates byte arrays whose lengths add up to `size`. */
export const concatBytes = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1 && chunks[0]!.length === size) return chunks[0]!
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** Keeps only the last `limit` bytes written to it (e.g. a process's stderr). */
export class TailBuffer {
  private buffer: Uint8Array = new Uint8Array(0)
  constructor(readonly limit: number) {}

  /** Appends `chunk`, dropping the oldest bytes beyond `limit`. */
  push(chunk: Uint8Array): void {
    if (chunk.length >= this.limit) {
      this.buffer = chunk.slice(chunk.length - this.limit)
      return
    }
    const keep = Math.min(this.buffer.length, this.limit - chunk.length)
    const next = new Uint8Array(keep + chunk.length)
    next.set(this.buffer.subarray(this.buffer.length - keep), 0)
    next.set(chunk, keep)
    this.buffer = next
  }

  /** The last `maxChars` characters of the kept bytes, decoded as UTF-8 and trimmed. */
  text(maxChars: number): string {
    const text = new TextDecoder("utf-8").decode(this.buffer).trim()
    return text.length > maxChars ? `…${text.slice(text.length - maxChars)}` : text
  }
}

/** Hex SHA-256 of a string (UTF-8). */
export const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex")

/**
 * `JSON.stringify` with object keys sorted at every level, so equal values
 * hash equally whatever the key order.
 */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v
    // no prototype: a "__proto__" key stays an own property
    const sorted: Record<string, unknown> = Object.create(null)
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key]
    return sorted
  })
