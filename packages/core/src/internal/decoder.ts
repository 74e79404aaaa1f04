/**
 * Synchronous `Schema` decoders for ARM's hot path: the schema stays the one rule, compiled once into
 * plain functions that give exactly what `Schema.decodeUnknownEither` gives.
 *
 * Effect's interpreter builds an `Either` per field, a `ParseIssue` tree on failure and, for defaults,
 * deletes keys from the objects it builds (which sends them to V8's slow dictionary mode); on a resource
 * group read that cost about a tenth of the client CPU. The compiled form walks the same AST nodes in
 * the same order and makes the same objects (properties in the same order, class instances through
 * the class's own transformation and declaration), but reports only "no". Then, and for any schema it
 * does not compile (suspended, template literal, enum, symbol keys, literal-tagged unions, annotations
 * that change parse options), Effect's own decoder runs: every error message is Effect's.
 * @internal
 */
import { SchemaAST as AST, Either, Option, type ParseResult, Schema } from "effect"

/** The input does not decode (certainly). */
const NO: unique symbol = Symbol("azmi/decoder/no")
/** The schema's own code answered with an effect: only Effect's decoder can say (it runs it). */
const UNSURE: unique symbol = Symbol("azmi/decoder/unsure")
type Outcome = unknown
type Compiled = (u: unknown) => Outcome

const compiled = new WeakMap<AST.AST, Compiled | null>()

/** The result of a transformation, declaration or filter the schema defines: a value, NO or UNSURE. */
const fromEither = (result: unknown): Outcome => {
  if (!Either.isEither(result)) return UNSURE
  return Either.isRight(result) ? result.right : NO
}

const hasOwn = (o: object, key: PropertyKey) => Object.hasOwn(o, key)
/** Annotations that change how Effect parses a node: such a node is left to Effect. */
const hasParseAnnotations = (ast: AST.AST) =>
  Option.isSome(AST.getParseOptionsAnnotation(ast)) || Option.isSome(AST.getDecodingFallbackAnnotation(ast))

/**
 * Whether Effect's union would look this member up by a literal-valued property (its search tree, which
 * is not compiled) — or might: declarations are left to Effect (a surrogate may carry literals).
 */
const tagged = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.some((ps) => !ps.isOptional && AST.isLiteral(AST.encodedAST(ps.type)))
    case "TupleType":
      return ast.elements.some((e) => !e.isOptional && AST.isLiteral(AST.encodedAST(e.type)))
    case "Refinement":
    case "Transformation":
      return tagged(ast.from)
    case "Declaration":
    case "Suspend":
      return true
    default:
      return false
  }
}

const keyword =
  (test: (u: unknown) => boolean): Compiled =>
  (u) =>
    test(u) ? u : NO

const compile = (ast: AST.AST): Compiled | undefined => {
  const known = compiled.get(ast)
  if (known !== undefined) return known ?? undefined
  const made = hasParseAnnotations(ast) ? undefined : compileNode(ast)
  compiled.set(ast, made ?? null)
  return made
}

const compileNode = (ast: AST.AST): Compiled | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return keyword((u) => typeof u === "string")
    case "NumberKeyword":
      return keyword((u) => typeof u === "number")
    case "BooleanKeyword":
      return keyword((u) => typeof u === "boolean")
    case "UndefinedKeyword":
      return keyword((u) => u === undefined)
    case "UnknownKeyword":
    case "AnyKeyword":
      return (u) => u
    case "Literal": {
      const literal = ast.literal
      return keyword((u) => u === literal)
    }
    case "TypeLiteral":
      return compileTypeLiteral(ast)
    case "TupleType": {
      // Arrays only (`Schema.Array(item)`): no fixed elements, one rest element.
      if (ast.elements.length !== 0 || ast.rest.length !== 1) return undefined
      const item = compile((ast.rest[0] as AST.Type).type)
      if (item === undefined) return undefined
      return (u) => {
        if (!Array.isArray(u)) return NO
        const out: Array<unknown> = []
        for (let i = 0; i < u.length; i++) {
          const v = item(u[i])
          if (v === NO || v === UNSURE) return v
          out.push(v)
        }
        return out
      }
    }
    case "Union": {
      if (ast.types.some(tagged)) return undefined
      const members: Array<Compiled> = []
      for (const member of ast.types) {
        const c = compile(member)
        if (c === undefined) return undefined
        members.push(c)
      }
      // Effect tries the members in order and takes the first that decodes.
      return (u) => {
        for (const member of members) {
          const v = member(u)
          if (v !== NO) return v
        }
        return NO
      }
    }
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      return (u) => {
        const a = from(u)
        if (a === NO || a === UNSURE) return a
        return Option.isNone(ast.filter(a, AST.defaultParseOption, ast)) ? a : NO
      }
    }
    case "Declaration": {
      const parse = ast.decodeUnknown(...ast.typeParameters)
      return (u) => fromEither(parse(u, AST.defaultParseOption, ast))
    }
    case "Transformation":
      return compileTransformation(ast)
    default:
      return undefined
  }
}

/**
 * A boolean expression over `v` that holds exactly when a node that decodes to its input unchanged
 * (keywords, literals, unions of them) accepts `v`; `undefined` for any other node. Literals are read
 * from `c`, the generated code's constants.
 */
const predicateOf = (ast: AST.AST, constants: Array<unknown>): string | undefined => {
  if (hasParseAnnotations(ast)) return undefined
  switch (ast._tag) {
    case "StringKeyword":
      return `typeof v === "string"`
    case "NumberKeyword":
      return `typeof v === "number"`
    case "BooleanKeyword":
      return `typeof v === "boolean"`
    case "UndefinedKeyword":
      return "v === undefined"
    case "UnknownKeyword":
    case "AnyKeyword":
      return "true"
    case "Literal":
      constants.push(ast.literal)
      return `v === c[${constants.length - 1}]`
    case "Union": {
      // Every member gives back its input: which one matches first makes no difference.
      const members = ast.types.map((t) => predicateOf(t, constants))
      return members.every((m) => m !== undefined) ? `(${members.join(" || ")})` : undefined
    }
    default:
      return undefined
  }
}

/**
 * A struct, generated as straight-line code with its property names as literals (as a hand-written
 * decoder would be), so V8 sees one object shape per struct instead of one generic loop for all:
 * the same checks, in the same order, building the same object as Effect's interpreter.
 */
const compileTypeLiteral = (ast: AST.TypeLiteral): Compiled | undefined => {
  if (ast.propertySignatures.length === 0 && ast.indexSignatures.length === 0) {
    return (u) => (u !== null && u !== undefined ? u : NO)
  }
  const decoders: Array<Compiled> = []
  const constants: Array<unknown> = []
  const expected: Record<PropertyKey, null> = {}
  const lines: Array<string> = [
    "if (typeof u !== 'object' || u === null || Array.isArray(u)) return NO;",
    "const out = {};",
    "let v;",
  ]
  for (const ps of ast.propertySignatures) {
    if (typeof ps.name !== "string") return undefined
    expected[ps.name] = null
    const key = JSON.stringify(ps.name)
    const predicate = predicateOf(ps.type, constants)
    let check: string
    if (predicate !== undefined) {
      check = `if (!(${predicate})) return NO;`
    } else {
      const c = compile(ps.type)
      if (c === undefined) return undefined
      decoders.push(c)
      check = `v = d[${decoders.length - 1}](v); if (v === NO || v === UNSURE) return v;`
    }
    const assign = `v = u[${key}]; ${check} out[${key}] = v;`
    lines.push(ps.isOptional ? `if (hasOwn(u, ${key})) { ${assign} }` : assign)
  }
  const indexes: Array<Compiled> = []
  for (const is of ast.indexSignatures) {
    // String keys only (what `Schema.Record({ key: Schema.String, … })` makes).
    if (is.parameter._tag !== "StringKeyword") return undefined
    const c = compile(is.type)
    if (c === undefined) return undefined
    indexes.push(c)
  }
  if (indexes.length > 0) {
    lines.push(
      "for (const decode of indexes) for (const k of Object.keys(u)) {",
      "  v = decode(u[k]); if (v === NO || v === UNSURE) return v;",
      "  if (!hasOwn(expected, k)) out[k] = v;",
      "}",
    )
  }
  lines.push("return out;")
  try {
    return new Function(
      "NO",
      "UNSURE",
      "hasOwn",
      "d",
      "c",
      "indexes",
      "expected",
      `"use strict"; return function decodeStruct(u) {\n${lines.join("\n")}\n}`,
    )(NO, UNSURE, hasOwn, decoders, constants, indexes, expected) as Compiled
  } catch {
    // Code generation disallowed (`--disallow-code-generation-from-strings`): Effect decodes.
    return undefined
  }
}

const compileTransformation = (ast: AST.Transformation): Compiled | undefined => {
  const from = compile(ast.from)
  const to = compile(ast.to)
  if (from === undefined || to === undefined) return undefined
  const transformation = ast.transformation
  let transform: (a: unknown, i: unknown) => Outcome
  switch (transformation._tag) {
    case "FinalTransformation":
      transform = (a, i) => fromEither(transformation.decode(a, AST.defaultParseOption, ast, i))
      break
    case "ComposeTransformation":
      transform = (a) => a
      break
    case "TypeLiteralTransformation": {
      const steps = transformation.propertySignatureTransformations
      // Effect deletes each key and adds it back, on the object the `from` side just built; that only
      // moves the key to the end (and the object to V8's slow dictionary mode). When `to` is a struct
      // without index signatures, which reads its own keys by name, a value put back under the same
      // key can stay where it is: the object `to` builds is the same.
      const orderFree =
        AST.isTypeLiteral(ast.to) &&
        ast.to.indexSignatures.length === 0 &&
        ast.to.propertySignatures.length > 0
      transform = (a) => {
        const input = a as Record<PropertyKey, unknown>
        for (const step of steps) {
          const o = step.decode(hasOwn(input, step.from) ? Option.some(input[step.from]) : Option.none())
          if (!(orderFree && step.from === step.to && Option.isSome(o))) delete input[step.from]
          if (Option.isSome(o)) input[step.to] = o.value
        }
        return input
      }
      break
    }
  }
  return (u) => {
    const a = from(u)
    if (a === NO || a === UNSURE) return a
    const b = transform(a, u)
    if (b === NO || b === UNSURE) return b
    return to(b)
  }
}

type SyncDecoder<A> = (u: unknown) => Either.Either<A, ParseResult.ParseError>
const decoders = new WeakMap<object, SyncDecoder<unknown>>()

/**
 * The synchronous decoder of `schema`, built on first use: the compiled form when it decodes, else
 * Effect's `Schema.decodeUnknownEither` (so a failure, or a schema with effects, answers as Effect does).
 */
export const decoderOf = <A, I>(schema: Schema.Schema<A, I>): SyncDecoder<A> => {
  const known = decoders.get(schema)
  if (known !== undefined) return known as SyncDecoder<A>
  const effect = Schema.decodeUnknownEither(schema)
  const fast = compile(schema.ast)
  const decoder: SyncDecoder<A> =
    fast === undefined
      ? effect
      : (u) => {
          const v = fast(u)
          return v === NO || v === UNSURE ? effect(u) : Either.right(v as A)
        }
  decoders.set(schema, decoder as SyncDecoder<unknown>)
  return decoder
}

/**
 * For tests: what the compiled form alone says of `u` — the value, `"no"`, `"unsure"` — or
 * `"not compiled"` when `schema` is left to Effect.
 */
export const compiledOutcome = <A, I>(
  schema: Schema.Schema<A, I>,
  u: unknown,
): { readonly value: A } | "no" | "unsure" | "not compiled" => {
  const fast = compile(schema.ast)
  if (fast === undefined) return "not compiled"
  const v = fast(u)
  return v === NO ? "no" : v === UNSURE ? "unsure" : { value: v as A }
}
