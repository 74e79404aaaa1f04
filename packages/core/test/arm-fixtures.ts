/**
 * Fakes for ARM unit tests: an HttpClient that records every request and answers from a script, and a
 * TokenProvider that hands out numbered tokens and records forced refreshes.
 */
import { HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Effect, Layer, Redacted } from "effect"
import * as ArmClient from "../src/ArmClient.js"
import { type GetTokenCall, TokenProvider, testToken } from "../src/TokenProvider.js"

export const SUB = "98f51385-2edc-4b79-bed9-7718de4cb861"
export const ENDPOINT = "https://arm.test"

export interface Recorded {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
}

export type Reply =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | "reset"
  | "hang"

/** A scripted ARM: `replies` are used in order (the last one repeats); or a function of the request. */
export const fakeArm = (replies: ReadonlyArray<Reply> | ((req: Recorded, index: number) => Reply)) => {
  const requests: Array<Recorded> = []
  const client = HttpClient.make((request: HttpClientRequest.HttpClientRequest, url: URL) =>
    Effect.suspend(() => {
      const body =
        request.body._tag === "Uint8Array"
          ? JSON.parse(new TextDecoder().decode(request.body.body))
          : undefined
      const rec: Recorded = { method: request.method, url, headers: request.headers, body }
      const index = requests.length
      requests.push(rec)
      const reply =
        typeof replies === "function"
          ? replies(rec, index)
          : (replies[Math.min(index, replies.length - 1)] as Reply)
      if (reply === "hang") return Effect.never
      if (reply === "reset") {
        return Effect.fail(
          new HttpClientError.RequestError({
            request,
            reason: "Transport",
            cause: new Error("socket hang up"),
          }),
        )
      }
      const text =
        reply.body === undefined
          ? null
          : typeof reply.body === "string"
            ? reply.body
            : JSON.stringify(reply.body)
      return Effect.succeed(
        HttpClientResponse.fromWeb(
          request,
          new Response(text, {
            status: reply.status,
            headers: { "content-type": "application/json; charset=utf-8", ...reply.headers },
          }),
        ),
      )
    }),
  )
  return { client, requests, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

/** Tokens `token-1`, `token-2`, … ; a new one only when forced (like a real cache would). */
export const fakeTokens = (tokenOf: (n: number) => string = (n) => `token-${n}`) => {
  const calls: Array<GetTokenCall> = []
  let n = 1
  const layer = TokenProvider.layerTest({
    description: "fake",
    onCall: (call) => {
      calls.push(call)
      if (call.forceRefresh) n++
    },
    getToken: (resource) =>
      Effect.sync(() =>
        testToken(resource, {
          token: Redacted.make(tokenOf(n)),
          expiresOn: Date.now() + 3_600_000,
          refreshOn: Date.now() + 1_800_000,
        }),
      ),
  })
  return { calls, layer }
}

/** ArmClient over the fakes. */
export const armLayer = (
  arm: { layer: Layer.Layer<HttpClient.HttpClient> },
  tokens: { layer: Layer.Layer<TokenProvider> },
  options: ArmClient.ArmClientOptions = {},
) =>
  ArmClient.layer({ endpoint: ENDPOINT, ...options }).pipe(
    Layer.provide(Layer.merge(arm.layer, tokens.layer)),
  )

export const armError = (code: string, message: string) => ({ error: { code, message } })

export const rg = (name: string, extra: Record<string, unknown> = {}) => ({
  id: `/subscriptions/${SUB}/resourceGroups/${name}`,
  name,
  type: "Microsoft.Resources/resourceGroups",
  location: "westus",
  tags: {},
  properties: { provisioningState: "Succeeded" },
  ...extra,
})

/** The decoded path segments of a request (what a server would route on). */
export const decodedSegments = (url: URL) => url.pathname.split("/").slice(1).map(decodeURIComponent)
