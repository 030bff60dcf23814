/**
 * What the HTTP API shows a caller without the token (docs/operations.md,
 * "What is redacted"). Error texts can hold a command's stderr, file paths
 * of this machine and stack traces; such a caller sees each as a
 * {@link summary}: its first line, without a command's stderr, with every
 * absolute path replaced by `<path>`, at most {@link maxSummaryChars}
 * characters. Instance ids (which hold a feed's URL or path, by design)
 * and params are kept.
 */
import * as Option from "effect/Option"
import type { EndedRun, InstanceInfo, RunOutcome } from "../scheduling/CollectorRunner.js"

/** Characters of an error text kept in a {@link summary}: 160. */
export const maxSummaryChars = 160

/** What replaces an absolute path in a {@link summary}. */
export const pathPlaceholder = "<path>"

/**
 * An absolute path: a `file:` URL, `/...`, `~/...` or `C:\...`, starting
 * the text or after a space, a quote, `(`, `[`, `<`, `=` or `,` (so that the
 * path of an http URL is not one).
 */
const ABSOLUTE_PATH = /(^|[\s'"`([<=,])(file:\/\/[^\s'"`)\]>,;]*|~?\/[^\s'"`)\]>,;]+|[A-Za-z]:\\[^\s'"`)\]>,;]*)/g

/** What the command collector appends to its messages: the tail of the command's stderr. */
const STDERR_SUFFIX = /;\s*stderr:[\s\S]*$/

/**
 * An error text as a caller without the token sees it: the first line,
 * without a command's stderr (`...; stderr: ...`), absolute paths replaced
 * by {@link pathPlaceholder}, control characters by spaces, cut to
 * {@link maxSummaryChars} characters (the last one then `…`).
 */
export const summary = (text: string): string => {
  const first = text.split(/\r?\n|\r/, 1)[0]!.replace(STDERR_SUFFIX, "")
  const redacted = first
    .replace(ABSOLUTE_PATH, (_, before: string, path: string) => {
      // a path's trailing punctuation belongs to the sentence (`feed /x.xml: ...`)
      const trailing = /[:.]+$/.exec(path)?.[0] ?? ""
      return `${before}${pathPlaceholder}${trailing}`
    })
    .replace(/[\u0000-\u001f\u007f]/g, " ")
    .trim()
  return redacted.length > maxSummaryChars ? `${redacted.slice(0, maxSummaryChars - 1)}…` : redacted
}

/** An outcome with its error text (or the reason of a cancellation) summarised. */
export const outcome = <A extends RunOutcome | EndedRun>(run: A): A => {
  switch (run._tag) {
    case "Succeeded":
      return run
    case "Retry":
    case "Failed":
      return { ...run, error: summary(run.error) }
    case "Cancelled":
      return { ...run, reason: summary(run.reason) }
  }
}

/** An instance of `GET /collectors` with its `last_error`, `last_outcome` and `state_error` summarised. */
export const instance = (info: InstanceInfo): InstanceInfo => ({
  ...info,
  lastError: Option.map(info.lastError, summary),
  stateError: Option.map(info.stateError, summary),
  lastOutcome: Option.map(info.lastOutcome, outcome)
})
