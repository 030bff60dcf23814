/**
 * The output scanner of the command collector against `JSON.parse`: on any
 * text, "scan, then parse each result" accepts exactly what `JSON.parse`
 * accepts and finds the same results and quota value — also when the scan is
 * done in tiny slices.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { OutputScanner, parseJson } from "../../src/app/collectors/internal/outputScanner.js"

type Outcome =
  | { readonly tag: "invalid" }
  | { readonly tag: "noResults"; readonly quota: unknown }
  | { readonly tag: "results"; readonly results: ReadonlyArray<unknown>; readonly quota: unknown }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** What the collector must make of `text`, by `JSON.parse`. */
const expected = (text: string, resultsField: string, quotaField: string): Outcome => {
  const parsed = parseJson(text)
  if ("error" in parsed) return { tag: "invalid" }
  const value = parsed.value
  const quota = isObject(value) && Object.hasOwn(value, quotaField) ? value[quotaField] : "(none)"
  if (Array.isArray(value)) return { tag: "results", results: value, quota }
  if (isObject(value) && Array.isArray(value[resultsField])) {
    return { tag: "results", results: value[resultsField] as Array<unknown>, quota }
  }
  return { tag: "noResults", quota }
}

/** What the scanner (in slices of `budget` characters) and a parse of each result make of `text`. */
const scanned = (text: string, resultsField: string, quotaField: string, budget: number): Outcome => {
  const scanner = new OutputScanner(text, resultsField, quotaField)
  let steps = 0
  while (!scanner.step(budget)) {
    if (++steps > text.length + 10) throw new Error("the scan does not advance")
  }
  const result = scanner.result()
  if (result._tag === "Invalid") return { tag: "invalid" }
  const quota = result.quota === undefined ? "(none)" : result.quota.value
  if (result._tag === "NoResults") return { tag: "noResults", quota }
  const results: Array<unknown> = []
  for (let i = 0; i < result.spans.length; i += 2) {
    const element = parseJson(text.slice(result.spans[i], result.spans[i + 1]))
    if ("error" in element) return { tag: "invalid" }
    results.push(element.value)
  }
  return { tag: "results", results, quota }
}

const check = (text: string, resultsField = "results", quotaField = "quota") => {
  const want = expected(text, resultsField, quotaField)
  for (const budget of [1, 7, 1 << 20]) {
    assert.deepStrictEqual(scanned(text, resultsField, quotaField, budget), want, `${JSON.stringify(text)} (${budget})`)
  }
}

describe("OutputScanner", () => {
  it("agrees with JSON.parse on tricky documents", () => {
    const documents = [
      `[]`,
      ` [ ] `,
      `\n\t[1, "two", {"three": [3]}, [4], null, true, false, -5.5e3]\r\n`,
      `[{"url":"a]b","t":"\\"}{]["},{"x":"\\\\"},{"y":"\\\\\\""}]`,
      `["\\u005d", "é", "😀", "\\ud83d\\ude00"]`,
      `{"results": [{"a": 1}], "quota": false}`,
      `{"quota": 1, "results": []}`,
      `{"total": 2, "nested": {"results": [1]}, "results": [{"a": [1, {"b": "]"}]}]}`,
      `{"results": [1], "results": [2, 3]}`,
      `{"results": [1], "results": "no"}`,
      `{"results": "no", "results": [4]}`,
      `{"results": {"a": 1}}`,
      `{"items": []}`,
      `{}`,
      `42`,
      `"text"`,
      `null`,
      // invalid
      ``,
      ` `,
      `[`,
      `]`,
      `[1,]`,
      `[,1]`,
      `[1 2]`,
      `[1,,2]`,
      `[{"a":1}`,
      `[{"a":1]}`,
      `[{"a":}]`,
      `[tru]`,
      `[01]`,
      `["unterminated]`,
      `["bad \\x escape"]`,
      `[1] x`,
      `[1][2]`,
      `{"results": [1],}`,
      `{"results" [1]}`,
      `{results: [1]}`,
      `{"results": [1], "total": tru}`,
      `{"results": [1]`,
      `{"a": 1 "b": 2}`,
      `{"quota": , "results": []}`,
      `nope`,
      `\u00a0[]`
    ]
    for (const document of documents) check(document)
    check(`{"items": [{"a": 1}], "results": 5}`, "items", "results")
  })

  it.prop(
    "agrees with JSON.parse on any JSON document, printed compactly or indented",
    [
      fc.oneof(
        fc.array(fc.jsonValue()),
        fc.record({ results: fc.array(fc.jsonValue()), quota: fc.jsonValue(), other: fc.jsonValue() }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.jsonValue()
      ),
      fc.constantFrom(undefined, 1, "\t")
    ],
    ([value, indent]) => check(JSON.stringify(value, null, indent) ?? "null"),
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "agrees with JSON.parse on damaged documents",
    [
      fc.array(fc.jsonValue(), { minLength: 1 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom("", "[", "]", "{", "}", ",", ":", "\"", "\\", " ", "0", "a")), {
        minLength: 1,
        maxLength: 3
      })
    ],
    ([value, edits]) => {
      let text = JSON.stringify({ results: value, quota: true })
      for (const [at, insert] of edits) {
        const i = at % (text.length + 1)
        // "" deletes the character at i; anything else is inserted before it
        text = insert === "" ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + insert + text.slice(i)
      }
      check(text)
    },
    { fastCheck: { numRuns: 500 } }
  )
})
