/**
 * The `prepare` script, which npm runs on `npm ci` — with or without
 * `--omit=dev` — and on `npm pack`: it builds `dist/` when TypeScript is
 * installed; a production install has no TypeScript, so there it keeps the
 * shipped `dist/`, and fails with a clear message when there is none.
 * Runs the real script with npm in a scratch copy of package.json.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runToEnd } from "./e2e/support.js"

const root = path.resolve(import.meta.dirname, "..")

describe("npm prepare", () => {
  let dir: string

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rayinfo-prepare-"))
    fs.copyFileSync(path.join(root, "package.json"), path.join(dir, "package.json"))
  })
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

  const prepare = async () => {
    const result = await runToEnd("npm", ["run", "prepare"], { cwd: dir, timeoutMs: 60_000 })
    return { code: result.code, output: result.stdout + result.stderr }
  }

  it("a clean checkout without TypeScript (npm ci --omit=dev) fails, saying why and what to do", async () => {
    fs.copyFileSync(path.join(root, "tsconfig.build.json"), path.join(dir, "tsconfig.build.json"))
    const result = await prepare()
    expect(result.code, result.output).toBe(1)
    expect(result.output).toContain(
      "ray-scheduler: dist/ is missing and TypeScript is not installed to build it: " +
        "install with dev dependencies (npm ci), or deploy the npm pack tarball"
    )
  }, 60_000)

  it("a production install of the packed package (dist/ shipped, no TypeScript) keeps dist/ as it is", async () => {
    fs.mkdirSync(path.join(dir, "dist"))
    fs.writeFileSync(path.join(dir, "dist", "main.js"), "// shipped\n")
    const result = await prepare()
    expect(result.code, result.output).toBe(0)
    expect(fs.readFileSync(path.join(dir, "dist", "main.js"), "utf8")).toBe("// shipped\n")
  }, 60_000)

  it("with TypeScript installed, it builds dist/ from src/ (replacing what was there)", async () => {
    for (const file of ["tsconfig.json", "tsconfig.build.json"]) {
      fs.copyFileSync(path.join(root, file), path.join(dir, file))
    }
    fs.mkdirSync(path.join(dir, "src"))
    fs.writeFileSync(path.join(dir, "src", "main.ts"), "export const answer: number = 42\n")
    fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"))
    fs.mkdirSync(path.join(dir, "dist"))
    fs.writeFileSync(path.join(dir, "dist", "stale.js"), "// from an old build\n")
    const result = await prepare()
    expect(result.code, result.output).toBe(0)
    expect(fs.readFileSync(path.join(dir, "dist", "main.js"), "utf8")).toContain("export const answer = 42")
    expect(fs.existsSync(path.join(dir, "dist", "main.d.ts"))).toBe(true)
    expect(fs.existsSync(path.join(dir, "dist", "main.d.ts.map"))).toBe(true)
    expect(fs.existsSync(path.join(dir, "dist", "stale.js"))).toBe(false)
  }, 60_000)
})
