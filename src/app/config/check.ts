/**
 * Offline checks of a valid configuration, for `rayinfo check-config`: what
 * can be verified on this machine without fetching anything.
 *
 * - every feed `url` that is a local path or a `file:` URL names an existing
 *   file (a relative path is resolved against the process's working
 *   directory, as the feed collector does);
 * - every command collector's `cwd`, when set, is an existing directory;
 * - every `command` exists and is executable: a name without a slash is
 *   looked up on `PATH` (the collector's `env.PATH` if it sets one, else the
 *   service's), a path with a slash is resolved against the collector's `cwd`
 *   (else the working directory).
 *
 * URLs (http(s) with a host, no other scheme) are already checked when the
 * file is parsed. `rayinfo run` does not make these checks: a feed file that
 * is missing at start-up may appear later, and is reported as that job's
 * run error until it does.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { delimiter, isAbsolute, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { AppConfig, CommandCollectorConfig } from "./AppConfig.js"
import { ConfigFileError } from "./AppConfig.js"

/** What a path is, or why it cannot be told. */
type Kind = "file" | "executable" | "directory" | "other" | "missing" | { readonly error: string }

const kindOf = (fs: FileSystem.FileSystem, path: string): Effect.Effect<Kind> =>
  fs.stat(path).pipe(
    Effect.map((info): Kind =>
      info.type === "Directory"
        ? "directory"
        : info.type === "File"
        ? (info.mode & 0o111) !== 0 ? "executable" : "file"
        : "other"
    ),
    Effect.catchAll((error) =>
      Effect.succeed<Kind>(
        error._tag === "SystemError" && error.reason === "NotFound" ? "missing" : { error: error.message }
      )
    )
  )

/** The local file a feed `url` names, or `undefined` for an http(s) URL. */
const feedFile = (url: string): string | undefined => {
  if (/^https?:\/\//i.test(url)) return undefined
  if (/^file:/i.test(url)) return fileURLToPath(url) // valid: checked when parsed
  return isAbsolute(url) ? url : resolve(url)
}

const fileProblem = (kind: Kind, path: string, what: string): string | undefined => {
  if (typeof kind === "object") return `cannot read ${path}: ${kind.error}`
  switch (kind) {
    case "missing":
      return `file not found: ${path}`
    case "directory":
      return `${path} is a directory, not a file`
    case "other":
      return `${path} is not a regular file`
    case "file":
      return what === "command" ? `${path} is not executable` : undefined
    case "executable":
      return undefined
  }
}

const commandProblem = (
  fs: FileSystem.FileSystem,
  collector: CommandCollectorConfig,
  servicePath: string
): Effect.Effect<string | undefined> =>
  Effect.gen(function*() {
    const cwd = collector.cwd === undefined ? process.cwd() : resolve(collector.cwd)
    if (collector.command.includes("/")) {
      const path = resolve(cwd, collector.command)
      return fileProblem(yield* kindOf(fs, path), path, "command")
    }
    const searchPath = collector.env?.PATH ?? servicePath
    let notExecutable: string | undefined
    for (const entry of searchPath.split(delimiter)) {
      const candidate = resolve(cwd, entry === "" ? "." : entry, collector.command)
      const kind = yield* kindOf(fs, candidate)
      if (kind === "executable") return undefined
      if (kind === "file") notExecutable ??= candidate
    }
    return `${JSON.stringify(collector.command)} not found on PATH (${searchPath})` +
      (notExecutable === undefined ? "" : `; ${notExecutable} is not executable`)
  })

/**
 * Every problem the offline checks find, one line each
 * (`  collectors[0].feeds[1].url: file not found: /srv/x.xml`), in the
 * order of the file. `PATH` is read through `Config` (the environment).
 */
export const problems = (config: AppConfig): Effect.Effect<ReadonlyArray<string>, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const servicePath = yield* Config.string("PATH").pipe(Config.withDefault(""), Effect.orElseSucceed(() => ""))
    const found: Array<string> = []
    for (const [i, collector] of config.collectors.entries()) {
      if (collector.type === "feed") {
        for (const [j, feed] of collector.feeds.entries()) {
          const path = feedFile(feed.url)
          if (path === undefined) continue
          const problem = fileProblem(yield* kindOf(fs, path), path, "feed")
          if (problem !== undefined) found.push(`  collectors[${i}].feeds[${j}].url: ${problem}`)
        }
        continue
      }
      if (collector.cwd !== undefined) {
        const cwd = resolve(collector.cwd)
        const kind = yield* kindOf(fs, cwd)
        if (kind !== "directory") {
          found.push(
            `  collectors[${i}].cwd: ${
              kind === "missing"
                ? `directory not found: ${cwd}`
                : typeof kind === "object"
                ? `cannot read ${cwd}: ${kind.error}`
                : `${cwd} is not a directory`
            }`
          )
          continue // the command is looked up from there
        }
      }
      const problem = yield* commandProblem(fs, collector, servicePath)
      if (problem !== undefined) found.push(`  collectors[${i}].command: ${problem}`)
    }
    return found
  })

/**
 * Runs the offline checks; fails with a {@link ConfigFileError} listing
 * every problem found.
 */
export const offline = (file: string, config: AppConfig): Effect.Effect<void, ConfigFileError, FileSystem.FileSystem> =>
  Effect.flatMap(
    problems(config),
    (found) => found.length === 0 ? Effect.void : Effect.fail(new ConfigFileError({ file, reason: found.join("\n") }))
  )
