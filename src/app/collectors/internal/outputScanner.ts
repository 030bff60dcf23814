/**
 * Splits a command's JSON output into its results without one big
 * `JSON.parse`, so that a large output (up to `maxOutputBytes`, 10 MiB by
 * default) can be handled in slices between which the event loop runs: a
 * single `JSON.parse` of 10 MB of small objects takes 70–120 ms on its own.
 *
 * {@link OutputScanner} walks the top level of the document — an array of
 * results, or an object one of whose members (`resultsField`) is that array
 * — and records where each result starts and ends. It honours strings and
 * their escapes and the nesting of brackets; everything it skips is checked
 * by `JSON.parse` (each other member's value here, each result by the
 * caller), so a document is accepted exactly when `JSON.parse` would accept
 * it. As with `JSON.parse`, the last of duplicate keys wins.
 *
 * @internal
 */

/** Where the results are, once the scan is done. */
export type ScanResult =
  | {
    readonly _tag: "Results"
    /** Start and end (exclusive) offset of each result, in pairs. */
    readonly spans: ReadonlyArray<number>
    /** The value of the quota field of a top-level object, when it has one. */
    readonly quota: { readonly value: unknown } | undefined
  }
  | {
    /** Valid JSON, but no results array. */
    readonly _tag: "NoResults"
    readonly quota: { readonly value: unknown } | undefined
  }
  | { readonly _tag: "Invalid"; readonly reason: string }

type Phase =
  | "Start"
  | "ArrayFirst" // after "[": a result or "]"
  | "ArrayValue" // after ",": a result
  | "ArrayNext" // after a result: "," or "]"
  | "ObjectFirst" // after "{": a key or "}"
  | "ObjectKey" // after ",": a key
  | "ObjectNext" // after a member: "," or "}"
  | "End" // after the top-level value: only whitespace
  | "Done"

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0A || c === 0x0D || c === 0x09

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** `JSON.parse(text)`, or the error's message. */
export const parseJson = (text: string): { readonly value: unknown } | { readonly error: string } => {
  try {
    return { value: JSON.parse(text) as unknown }
  } catch (error) {
    return { error: describe(error) }
  }
}

/**
 * The end (exclusive) of the JSON value starting at `start` (a non-blank
 * character), or -1 when the document ends first. Only strings and bracket
 * depth are followed: the value itself is validated by `JSON.parse` later.
 */
export const skipValue = (text: string, start: number): number => {
  const n = text.length
  let i = start
  let depth = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // a string: the next quote that is not escaped (preceded by an even number of backslashes)
      let from = i + 1
      for (;;) {
        const quote = text.indexOf("\"", from)
        if (quote < 0) return -1
        let backslashes = 0
        while (text.charCodeAt(quote - 1 - backslashes) === 0x5C) backslashes++
        from = quote + 1
        if (backslashes % 2 === 0) break
      }
      i = from
      if (depth === 0) return i
    } else if (c === 0x7B || c === 0x5B) {
      depth++
      i++
    } else if (c === 0x7D || c === 0x5D) {
      if (depth === 0) return i // a closing bracket where a value should be: an empty (invalid) value
      depth--
      i++
      if (depth === 0) return i
    } else if (depth === 0) {
      // a number or a literal: up to the next delimiter
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d === 0x2C || d === 0x5D || d === 0x7D || isWhitespace(d)) break
        i++
      }
      return i
    } else {
      i++
    }
  }
  return -1
}

/**
 * A resumable scan of a command's output: call {@link step} until it
 * returns true, then read {@link result}.
 */
export class OutputScanner {
  private pos = 0
  private phase: Phase = "Start"
  /** Whether the array being scanned is a member of a top-level object. */
  private nested = false
  /** Start and end of each result found so far, in pairs. */
  private spans: Array<number> = []
  private hasResults = false
  private quota: { readonly value: unknown } | undefined = undefined
  private invalid: string | undefined = undefined

  constructor(
    private readonly text: string,
    private readonly resultsField: string,
    private readonly quotaField: string | undefined
  ) {}

  /** The outcome; meaningful once {@link step} returned true. */
  result(): ScanResult {
    if (this.invalid !== undefined) return { _tag: "Invalid", reason: this.invalid }
    return this.hasResults
      ? { _tag: "Results", spans: this.spans, quota: this.quota }
      : { _tag: "NoResults", quota: this.quota }
  }

  /** Scans on for about `budget` characters (at least one result or member); true when the scan is over. */
  step(budget: number): boolean {
    const until = this.pos + budget
    while (this.phase !== "Done" && this.pos <= until) {
      if (!this.advance()) this.phase = "Done"
    }
    return this.phase === "Done"
  }

  private fail(reason: string): false {
    this.invalid = reason
    return false
  }

  private skipBlanks(): number {
    const text = this.text
    while (this.pos < text.length && isWhitespace(text.charCodeAt(this.pos))) this.pos++
    return this.pos < text.length ? text.charCodeAt(this.pos) : -1
  }

  private unexpected(expected: string): false {
    return this.pos >= this.text.length
      ? this.fail(`Unexpected end of JSON input (expected ${expected})`)
      : this.fail(
        `Unexpected character ${JSON.stringify(this.text[this.pos])} at position ${this.pos} (expected ${expected})`
      )
  }

  /** One move of the scan; false when it is over (done or invalid). */
  private advance(): boolean {
    const c = this.skipBlanks()
    switch (this.phase) {
      case "Start": {
        if (c === 0x5B) {
          this.pos++
          this.hasResults = true
          this.phase = "ArrayFirst"
          return true
        }
        if (c === 0x7B) {
          this.pos++
          this.phase = "ObjectFirst"
          return true
        }
        // anything else: valid or not, there are no results
        const parsed = parseJson(this.text)
        return "error" in parsed ? this.fail(parsed.error) : false
      }
      case "ArrayFirst":
        if (c === 0x5D) return this.closeArray()
        return this.element()
      case "ArrayValue":
        return this.element()
      case "ArrayNext":
        if (c === 0x2C) {
          this.pos++
          this.phase = "ArrayValue"
          return true
        }
        if (c === 0x5D) return this.closeArray()
        return this.unexpected("\",\" or \"]\"")
      case "ObjectFirst":
        if (c === 0x7D) {
          this.pos++
          this.phase = "End"
          return true
        }
        return this.member()
      case "ObjectKey":
        return this.member()
      case "ObjectNext":
        if (c === 0x2C) {
          this.pos++
          this.phase = "ObjectKey"
          return true
        }
        if (c === 0x7D) {
          this.pos++
          this.phase = "End"
          return true
        }
        return this.unexpected("\",\" or \"}\"")
      case "End":
        return c === -1 ? false : this.unexpected("the end of the document")
      case "Done":
        return false
    }
  }

  private closeArray(): true {
    this.pos++
    this.phase = this.nested ? "ObjectNext" : "End"
    this.nested = false
    return true
  }

  private element(): boolean {
    const start = this.pos
    const end = start < this.text.length ? skipValue(this.text, start) : -1
    if (end < 0) return this.unexpected("a value")
    if (end === start) return this.unexpected("a value")
    this.spans.push(start, end)
    this.pos = end
    this.phase = "ArrayNext"
    return true
  }

  private member(): boolean {
    const text = this.text
    if (text.charCodeAt(this.pos) !== 0x22) return this.unexpected("a string key")
    const keyEnd = skipValue(text, this.pos)
    if (keyEnd < 0) return this.unexpected("the end of a string")
    const key = parseJson(text.slice(this.pos, keyEnd))
    if ("error" in key) return this.fail(key.error)
    this.pos = keyEnd
    if (this.skipBlanks() !== 0x3A) return this.unexpected("\":\"")
    this.pos++
    const c = this.skipBlanks()
    if (key.value === this.resultsField && c === 0x5B) {
      // the results array: scanned result by result (a later duplicate key replaces it)
      this.pos++
      this.spans = []
      this.hasResults = true
      this.nested = true
      this.phase = "ArrayFirst"
      return true
    }
    const start = this.pos
    const end = start < text.length ? skipValue(text, start) : -1
    if (end <= start) return this.unexpected("a value")
    const value = parseJson(text.slice(start, end))
    if ("error" in value) return this.fail(value.error)
    if (key.value === this.resultsField) {
      // not an array: no results (unless a later duplicate key has them)
      this.spans = []
      this.hasResults = false
    }
    if (this.quotaField !== undefined && key.value === this.quotaField) this.quota = { value: value.value }
    this.pos = end
    this.phase = "ObjectNext"
    return true
  }
}
