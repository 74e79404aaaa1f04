/**
 * ARM response bodies as values: `json` decodes one answer with a `Schema` (one synchronous decoder per
 * schema, compiled on first use: `decoder`), `pages` follows `nextLink` through a pageable list and
 * stops at a loop.
 * @internal
 */
import { Chunk, Effect, Either, Option, ParseResult, Schema, Stream } from "effect"
import type { ArmRawResponse, ArmRequest } from "../ArmClient.js"
import type { ArmMetadata, ArmResponse } from "../ArmResponse.js"
import { type ArmError, ArmRequestFailed } from "../Errors.js"
import { decoderOf } from "./decoder.js"

const malformed = (status: number, metadata: ArmMetadata, error: ParseResult.ParseError) =>
  new ArmRequestFailed({
    status,
    code: "MalformedResponse",
    armMessage: `ARM's response did not have the expected shape: ${ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 500)}`,
    attempts: 1,
    requestId: metadata.requestId,
    correlationId: metadata.correlationId,
  })

type Send = (request: ArmRequest) => Effect.Effect<ArmRawResponse, ArmError>

/** `send`, then decode the body with `schema`. */
export const makeJson =
  (send: Send) =>
  <A, I>(request: ArmRequest, schema: Schema.Schema<A, I>): Effect.Effect<ArmResponse<A>, ArmError> =>
    Effect.flatMap(send(request), (raw) => {
      const decoded = decoderOf(schema)(raw.body)
      if (Either.isRight(decoded))
        return Effect.succeed<ArmResponse<A>>({ value: decoded.right, metadata: raw.metadata })
      if (decoded.left.issue._tag !== "Forbidden")
        return Effect.fail(malformed(raw.status, raw.metadata, decoded.left))
      // A schema with asynchronous parts cannot decode synchronously: decode it as an effect.
      return Schema.decodeUnknown(schema)(raw.body).pipe(
        Effect.map((value): ArmResponse<A> => ({ value, metadata: raw.metadata })),
        Effect.mapError((e) => malformed(raw.status, raw.metadata, e)),
      )
    })

const page = <A, I>(item: Schema.Schema<A, I>) =>
  Schema.Struct({
    value: Schema.optionalWith(Schema.Array(item), { default: () => [] }),
    nextLink: Schema.optional(Schema.NullOr(Schema.String)),
  })
// One page schema per item schema, so its decoder is compiled once.
const pages = new WeakMap<object, ReturnType<typeof page<unknown, unknown>>>()
const pageOf = <A, I>(item: Schema.Schema<A, I>): ReturnType<typeof page<A, I>> => {
  let known = pages.get(item)
  if (known === undefined) {
    known = page(item as Schema.Schema<unknown, unknown>)
    pages.set(item, known)
  }
  return known as unknown as ReturnType<typeof page<A, I>>
}

/** Every item of a pageable list, following `nextLink` until ARM sends none (empty pages included). */
export const makePages =
  (json: ReturnType<typeof makeJson>) =>
  <A, I>(request: ArmRequest, item: Schema.Schema<A, I>): Stream.Stream<A, ArmError> => {
    const Page = pageOf(item)
    // Suspended so each run of the stream starts with its own set of seen links.
    return Stream.suspend(() =>
      Stream.paginateChunkEffect({ request, seen: new Set<string>() }, ({ request, seen }) =>
        Effect.flatMap(json(request, Page), ({ value }) => {
          const next = value.nextLink ?? undefined
          if (next === undefined || next === "")
            return Effect.succeed([Chunk.fromIterable(value.value), Option.none()] as const)
          if (seen.has(next)) {
            return Effect.fail(
              new ArmRequestFailed({
                status: 200,
                code: "NextLinkLoop",
                armMessage: "ARM returned a nextLink it had already returned; paging stopped",
                attempts: 1,
              }),
            )
          }
          seen.add(next)
          return Effect.succeed([
            Chunk.fromIterable(value.value),
            Option.some({ request: { ...request, path: { nextLink: next } }, seen }),
          ] as const)
        }),
      ),
    )
  }
