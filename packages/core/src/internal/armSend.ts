/**
 * One ARM call: token → wire → response, each failed attempt handed to the retry engine with ARM's
 * rules (`armOutcome`). Per-request work on the hot path is plain code: one fiber-runtime read for the
 * request id, log level and clock, then token → wire → response without generators. Only the rare paths
 * (retries, error bodies, debug and warning logs) build more.
 * @internal
 */
import { Clock, Context, Effect, Either, FiberRef, LogLevel, Metric, Option, type Redacted } from "effect"
import type { ArmRawResponse, ArmRequest } from "../ArmClient.js"
import type { ArmMetadata } from "../ArmResponse.js"
import type { Wire, WireResponse } from "../ArmWire.js"
import type { ArmError } from "../Errors.js"
import * as Metrics from "../Metrics.js"
import * as Retry from "../Retry.js"
import type { TokenProvider } from "../TokenProvider.js"
import { type CallFacts, final, metadataOf, responseFailure, successOf, wireFailure } from "./armOutcome.js"
import { requestUrl } from "./armUrl.js"

/** What every call of one client shares. */
export interface SendConfig {
  readonly endpoint: string
  readonly endpointVariable: string | undefined
  readonly audience: string
  readonly plan: Retry.RetryPlan
  readonly tokens: TokenProvider["Type"]
  readonly wire: Wire
  /** The `x-ms-client-request-id` of this fiber's calls, when a shell passes its caller's on. */
  readonly clientRequestId: FiberRef.FiberRef<Option.Option<string>>
}

/** The client's `send`. */
export const makeSend = (config: SendConfig) => {
  const { endpoint, audience, plan, tokens, wire } = config
  const endpointUrl = new URL(endpoint)
  return (request: ArmRequest): Effect.Effect<ArmRawResponse, ArmError> =>
    Effect.withFiberRuntime<ArmRawResponse, ArmError>((fiber) => {
      const built = requestUrl(endpoint, endpointUrl, request)
      if (Either.isLeft(built)) return Effect.fail(built.left)
      const url = built.right
      const clientRequestId = Option.getOrElse(fiber.getFiberRef(config.clientRequestId), () =>
        crypto.randomUUID(),
      )
      const headers = { accept: "application/json", "x-ms-client-request-id": clientRequestId }
      const body = request.body === undefined ? undefined : JSON.stringify(request.body)
      const accepted = (status: number) =>
        (status >= 200 && status < 300) || (request.accept?.includes(status) ?? false)
      const pathForLogs = () => new URL(url).pathname
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      // Debug lines are built only when someone listens: this is the hot path of every ARM call.
      const debug = LogLevel.lessThanEqual(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
      const facts: CallFacts = {
        request,
        endpoint,
        endpointVariable: config.endpointVariable,
        operation: () => `ARM ${request.method} ${pathForLogs()}`,
        attemptTimeoutMs: plan.attemptTimeoutMs,
      }

      /** Everything but a quiet success: logs, then an answer or a retry decision. */
      const answer = (
        response: WireResponse,
        metadata: ArmMetadata,
        context: { readonly attempt: number; readonly refreshUsed: boolean },
        bearer: Redacted.Redacted<string>,
      ): Effect.Effect<ArmRawResponse, Retry.AttemptFailure<ArmError>> =>
        Effect.gen(function* () {
          const { status } = response
          if (debug) {
            yield* Effect.logDebug(`ARM ${request.method} ${pathForLogs()} → ${status}`).pipe(
              Effect.annotateLogs({
                requestId: metadata.requestId ?? "",
                remainingReads: metadata.remainingReads ?? "",
              }),
            )
          }
          if (metadata.remainingReads !== undefined && metadata.remainingReads < 25) {
            yield* Effect.logWarning(
              `ARM read budget nearly spent: ${metadata.remainingReads} reads remaining for this subscription`,
            )
          }
          if (accepted(status)) return yield* succeed(response, metadata, context.attempt)
          const failure = responseFailure(
            facts,
            response,
            metadata,
            { ...context, now: clock.unsafeCurrentTimeMillis() },
            bearer,
          )
          if (debug && failure.retry === "refresh") {
            yield* Effect.logDebug(`ARM ${failure.reason}: retrying once with a fresh token`)
          }
          return yield* Effect.fail(failure)
        })

      return Retry.run<ArmRawResponse, ArmError>({
        plan,
        operation: facts.operation,
        attempt: ({ attempt, timeoutMs, refresh, refreshUsed }) =>
          Effect.flatMap(
            Effect.mapError(tokens.getToken(audience, refresh ? { forceRefresh: true } : undefined), (e) =>
              final(e),
            ),
            (token) => {
              Metrics.armRequests.unsafeUpdate(1, [])
              return Effect.matchEffect(
                wire({ method: request.method, url, headers, bearer: token.token, body, timeoutMs }),
                {
                  onFailure: (failure) => Effect.fail(wireFailure(facts, failure)),
                  onSuccess: (response) => {
                    const metadata = metadataOf(response.headers, clientRequestId)
                    const lowReads = metadata.remainingReads !== undefined && metadata.remainingReads < 25
                    return !debug && !lowReads && accepted(response.status)
                      ? succeed(response, metadata, attempt)
                      : answer(response, metadata, { attempt, refreshUsed }, token.token)
                  },
                },
              )
            },
          ),
        onRetry: (event) =>
          Effect.zipRight(
            debug
              ? Effect.logDebug(`ARM ${request.method} retry in ${event.delayMs} ms (${event.reason})`)
              : Effect.void,
            Metric.increment(Metrics.retries),
          ),
        onGiveUp: () => Effect.void,
      })
    })
}

const succeed = (response: WireResponse, metadata: ArmMetadata, attempt: number) => {
  const result = successOf(response.status, response.text, metadata, attempt)
  return Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(final(result.left))
}
