/**
 * Turns a Schema `ParseError` into one plain line per problem —
 * `collectors[0].interval: Expected a duration ..., got "soon"` — naming the
 * path in the file and what was expected in words, never schema internals
 * (`Struct (Encoded side) <-> ...`, `ReadonlyArray<...>`, the `undefined`
 * alternative of an optional key).
 *
 * What a schema expects is its `description` annotation when it has one (the
 * configuration schemas set one where the default would be vague), else a
 * description derived from its shape: a map with its keys, a list, a string...
 *
 * @internal
 */
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as AST from "effect/SchemaAST"

/** `collectors[0].interval`; `(top level)` for the empty path. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`,
    ""
  ) || "(top level)"

const MAX_SHOWN = 80

/** The value the file holds, in words: `42`, `"text"`, `null`, `a list`, `a map`. */
export const describeActual = (u: unknown): string => {
  switch (typeof u) {
    case "undefined":
      return "nothing"
    case "string": {
      const shown = JSON.stringify(u)
      return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN - 4)}..."` : shown
    }
    case "number":
    case "boolean":
    case "bigint":
      return String(u)
    case "object": {
      if (u === null) return "null"
      if (Array.isArray(u)) return "a list"
      const proto = Object.getPrototypeOf(u)
      if (proto === Object.prototype || proto === null) return "a map"
      if (u instanceof Date) return "a date"
      if (u instanceof Uint8Array) return "binary data"
      return `a ${(u as { constructor?: { name?: string } }).constructor?.name ?? "value"}`
    }
    default:
      return `a ${typeof u}`
  }
}

/** What a schema expects, in words. */
export const describe = (ast: AST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "true or false"
    case "UndefinedKeyword":
      return "nothing"
    default:
      break
  }
  const description = AST.getDescriptionAnnotation(ast)
  if (Option.isSome(description)) return description.value
  switch (ast._tag) {
    case "Literal":
      return JSON.stringify(ast.literal)
    case "Union": {
      const members = ast.types.filter((member) => !AST.isUndefinedKeyword(member))
      return members.map(describe).join(" or ")
    }
    case "TypeLiteral":
      return ast.propertySignatures.length > 0
        ? `a map with keys ${ast.propertySignatures.map((p) => JSON.stringify(String(p.name))).join(", ")}`
        : "a map"
    case "TupleType":
      return "a list"
    case "Refinement":
    case "Transformation":
      return describe(ast.from)
    case "Suspend":
      return describe(ast.f())
    default:
      return Option.getOrElse(AST.getIdentifierAnnotation(ast), () => "a different value")
  }
}

/**
 * Whether a value of `ast` can be `actual` when `actual` is a list or an
 * object other than a plain map (a YAML `!!binary` or `!!timestamp`): the
 * object checks of a struct let those through, and then report missing keys
 * where "got a list" is the real story.
 */
const acceptsObject = (ast: AST.AST, actual: object): boolean => {
  switch (ast._tag) {
    case "TupleType":
      return Array.isArray(actual)
    case "Declaration":
    case "UnknownKeyword":
    case "AnyKeyword":
    case "ObjectKeyword":
      return true
    case "Union":
      return ast.types.some((member) => acceptsObject(member, actual))
    case "Refinement":
    case "Transformation":
      return acceptsObject(ast.from, actual)
    case "Suspend":
      return acceptsObject(ast.f(), actual)
    default:
      return false
  }
}

/** `actual` is a list or an unusual object where `ast` wants something else. */
const isShapeMismatch = (ast: AST.AST, actual: unknown): boolean => {
  if (typeof actual !== "object" || actual === null) return false
  const proto = Object.getPrototypeOf(actual)
  const plainMap = !Array.isArray(actual) && (proto === Object.prototype || proto === null)
  return !plainMap && !acceptsObject(ast, actual)
}

const expectedGot = (ast: AST.AST, actual: unknown): string =>
  `Expected ${describe(ast)}, got ${describeActual(actual)}`

/**
 * Whether `issue` is, under refinements and transformations, a plain type
 * mismatch (a number where a string was expected...), so the outer schema's
 * description says better what was expected.
 */
const isTypeMismatch = (issue: ParseResult.ParseIssue): boolean => {
  let current = issue
  while (
    (current._tag === "Refinement" && current.kind === "From") ||
    (current._tag === "Transformation" && current.kind === "Encoded")
  ) {
    current = current.issue
  }
  return current._tag === "Type" && current.message === undefined && !AST.isRefinement(current.ast) &&
    Option.isNone(AST.getMessageAnnotation(current.ast))
}

/** The message annotation of the issue's schema, when it gives a plain string. */
const annotatedMessage = (issue: ParseResult.Type): string | undefined => {
  const annotation = AST.getMessageAnnotation(issue.ast)
  if (Option.isNone(annotation)) return undefined
  const message = annotation.value(issue)
  if (typeof message === "string") return message
  if (typeof message === "object" && message !== null && "message" in message && typeof message.message === "string") {
    return message.message
  }
  return undefined
}

const collect = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<PropertyKey>,
  out: Array<readonly [ReadonlyArray<PropertyKey>, string]>
): void => {
  switch (issue._tag) {
    case "Pointer":
      return collect(issue.issue, path.concat(issue.path), out)
    case "Composite": {
      // a shape mismatch, or none of a set of words (`Schema.Literal("a", "b")`): one line naming them all
      if (
        isShapeMismatch(issue.ast, issue.actual) || (AST.isUnion(issue.ast) && issue.ast.types.every(AST.isLiteral))
      ) {
        out.push([path, expectedGot(issue.ast, issue.actual)])
        return
      }
      const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]
      // an optional key is `X | undefined`: the "undefined" alternative is noise
      const useful = AST.isUnion(issue.ast) && issue.actual !== undefined
        ? issues.filter((i) => !(i._tag === "Type" && AST.isUndefinedKeyword(i.ast)))
        : issues
      for (const sub of useful.length > 0 ? useful : issues) collect(sub, path, out)
      return
    }
    case "Refinement":
    case "Transformation":
      if (isTypeMismatch(issue) || isShapeMismatch(issue.ast, issue.actual)) {
        out.push([path, expectedGot(issue.ast, issue.actual)])
        return
      }
      return collect(issue.issue, path, out)
    case "Type":
      out.push([path, issue.message ?? annotatedMessage(issue) ?? expectedGot(issue.ast, issue.actual)])
      return
    case "Missing":
      out.push([path, issue.message ?? "is missing"])
      return
    case "Unexpected":
      out.push([path, issue.message ?? "is unexpected"])
      return
    case "Forbidden":
      out.push([path, issue.message ?? "cannot be checked synchronously"])
      return
  }
}

/**
 * One line per problem, `  <path>: <message>`, in the order the schema
 * found them, without duplicates.
 *
 * @internal
 */
export const formatIssues = (error: ParseResult.ParseError): ReadonlyArray<string> => {
  const found: Array<readonly [ReadonlyArray<PropertyKey>, string]> = []
  collect(error.issue, [], found)
  return [...new Set(found.map(([path, message]) => `  ${formatPath(path)}: ${message}`))]
}
