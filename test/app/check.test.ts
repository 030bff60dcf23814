/**
 * The offline checks of `rayinfo check-config`: feed files exist, commands
 * exist and are executable, working directories exist.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as AppConfig from "../../src/app/config/AppConfig.js"
import * as Check from "../../src/app/config/check.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-check-"))
const file = (name: string, content = "", mode = 0o644) => {
  const p = path.join(dir, name)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(p, content, { mode })
  fs.chmodSync(p, mode)
  return p
}
const feedFile = file("feeds/news.xml", "<rss/>")
const tool = file("bin/tool", "#!/bin/sh\necho []\n", 0o755)
const plain = file("bin/plain", "not executable", 0o644)
file("work/scripts/run.sh", "#!/bin/sh\n", 0o755)
const binDir = path.join(dir, "bin")
file("bin2/tool2", "#!/bin/sh\n", 0o755) // only on the PATH a collector's env sets

const parse = (yaml: string) => AppConfig.parse(yaml, "check.yaml")

/** Runs the checks with `PATH` set to `pathVariable` (the machine's PATH is not used). */
const problems = (yaml: string, pathVariable = binDir) =>
  Effect.flatMap(parse(yaml), Check.problems).pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["PATH", pathVariable]]))),
    Effect.provide(NodeFileSystem.layer)
  )

describe("check-config's offline checks", () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it.effect("a configuration whose files and commands exist has no problem", () =>
    Effect.gen(function*() {
      const found = yield* problems(`
collectors:
  - type: feed
    feeds:
      - url: ${JSON.stringify(feedFile)}
      - url: ${JSON.stringify(pathToFileURL(feedFile).href)}
      - url: examples/feeds/rayinfo-news.xml
      - url: https://example.org/rss
  - type: command
    name: on-path
    command: tool
  - type: command
    name: absolute
    command: ${JSON.stringify(tool)}
  - type: command
    name: relative-to-cwd
    command: scripts/run.sh
    cwd: ${JSON.stringify(path.join(dir, "work"))}
  - type: command
    name: path-from-env
    command: tool2
    env: { PATH: ${JSON.stringify(`/nonexistent:${path.join(dir, "bin2")}`)} }
`)
      assert.deepStrictEqual(found, [])
    }))

  it.effect("every missing file, missing or non-executable command and missing directory is listed", () =>
    Effect.gen(function*() {
      const missing = path.join(dir, "feeds/missing.xml")
      const found = yield* problems(`
collectors:
  - type: feed
    feeds:
      - url: ${JSON.stringify(feedFile)}
      - url: ${JSON.stringify(missing)}
      - url: ${JSON.stringify(pathToFileURL(missing).href)}
      - url: ${JSON.stringify(path.join(dir, "feeds"))}
      - url: no/such/relative.xml
  - type: command
    name: not-on-path
    command: no-such-tool
  - type: command
    name: plain
    command: ${JSON.stringify(plain)}
  - type: command
    name: plain-on-path
    command: plain
  - type: command
    name: bad-cwd
    command: tool
    cwd: ${JSON.stringify(path.join(dir, "nowhere"))}
  - type: command
    name: relative-missing
    command: ./scripts/missing.sh
    cwd: ${JSON.stringify(path.join(dir, "work"))}
  - type: command
    name: a-directory
    command: ${JSON.stringify(binDir)}
`)
      assert.deepStrictEqual(found, [
        `  collectors[0].feeds[1].url: file not found: ${missing}`,
        `  collectors[0].feeds[2].url: file not found: ${missing}`,
        `  collectors[0].feeds[3].url: ${path.join(dir, "feeds")} is a directory, not a file`,
        `  collectors[0].feeds[4].url: file not found: ${path.resolve("no/such/relative.xml")}`,
        `  collectors[1].command: "no-such-tool" not found on PATH (${binDir})`,
        `  collectors[2].command: ${plain} is not executable`,
        `  collectors[3].command: "plain" not found on PATH (${binDir}); ${plain} is not executable`,
        `  collectors[4].cwd: directory not found: ${path.join(dir, "nowhere")}`,
        `  collectors[5].command: file not found: ${path.join(dir, "work/scripts/missing.sh")}`,
        `  collectors[6].command: ${binDir} is a directory, not a file`
      ])
    }))

  it.effect("offline fails with a ConfigFileError listing the problems", () =>
    Effect.gen(function*() {
      const config = yield* parse(
        `collectors:\n  - type: feed\n    feeds: [{ url: ${JSON.stringify(path.join(dir, "x.xml"))} }]\n`
      )
      const result = yield* Effect.either(Check.offline("check.yaml", config))
      assert.isTrue(Either.isLeft(result))
      const error = Either.isLeft(result) ? result.left : undefined
      assert.strictEqual(error?._tag, "ConfigFileError")
      assert.strictEqual(
        error?.message,
        `Invalid configuration file check.yaml:\n  collectors[0].feeds[0].url: file not found: ${
          path.join(dir, "x.xml")
        }`
      )
      const ok = yield* parse(`collectors:\n  - type: feed\n    feeds: [{ url: ${JSON.stringify(feedFile)} }]\n`)
      yield* Check.offline("check.yaml", ok)
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
