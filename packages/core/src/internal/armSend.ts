/**
 * One ARM call: token → wire → response, each failed attempt handed to the retry engine with ARM's
 * rules (`armOutcome`). A call is one object ({@link ArmCall}, the engine's options) holding what every
 * attempt shares — target, headers, request id, log level, clock — read once from the fiber; a first
 * attempt that succeeds quietly builds nothing else: no generator, no log line, no failure facts.
 * @internal
 */
import {
  Clock,
  Context,
  Effect,
  Either,
  type Fiber,
  FiberRef,
  LogLevel,
  Metric,
  Option,
  type Redacted,
} from "effect"
import type { ArmRawResponse, ArmRequest } from "../ArmClient.js"
import type { ArmMetadata } from "../ArmResponse.js"
import type { Wire, WireResponse } from "../ArmWire.js"
import type { ArmError } from "../Errors.js"
import * as Metrics from "../Metrics.js"
import * as Retry from "../Retry.js"
import type { TokenProvider } from "../TokenProvider.js"
import { type CallFacts, final, metadataOf, responseFailure, successOf, wireFailure } from "./armOutcome.js"
import { type RequestTarget, requestTarget } from "./armUrl.js"

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
  const endpointUrl = new URL(config.endpoint)
  return (request: ArmRequest): Effect.Effect<ArmRawResponse, ArmError> =>
    Effect.withFiberRuntime<ArmRawResponse, ArmError>((fiber) => {
      const target = requestTarget(config.endpoint, endpointUrl, request)
      if (Either.isLeft(target)) return Effect.fail(target.left)
      return Retry.run(new ArmCall(config, request, target.right, fiber))
    })
}

/** Remaining reads below this are worth a warning. */
const LOW_READS = 25

/** One ARM call, as the retry engine runs it. */
class ArmCall implements Retry.RunOptions<ArmRawResponse, ArmError> {
  readonly clientRequestId: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | undefined
  readonly clock: Clock.Clock
  /** Debug lines are built only when someone listens: this is the hot path of every ARM call. */
  readonly debug: boolean

  constructor(
    readonly config: SendConfig,
    readonly request: ArmRequest,
    readonly target: RequestTarget,
    fiber: Fiber.RuntimeFiber<ArmRawResponse, ArmError>,
  ) {
    this.clientRequestId = Option.getOrElse(fiber.getFiberRef(config.clientRequestId), () =>
      crypto.randomUUID(),
    )
    this.headers = { accept: "application/json", "x-ms-client-request-id": this.clientRequestId }
    this.body = request.body === undefined ? undefined : JSON.stringify(request.body)
    this.clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    this.debug = LogLevel.lessThanEqual(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
  }

  get plan(): Retry.RetryPlan {
    return this.config.plan
  }

  /** e.g. `ARM GET /subscriptions/…`: read only for errors and logs. */
  get operation(): string {
    return `ARM ${this.request.method} ${this.pathForLogs()}`
  }

  pathForLogs(): string {
    return new URL(this.target.origin + this.target.path).pathname
  }

  accepted(status: number): boolean {
    return (status >= 200 && status < 300) || (this.request.accept?.includes(status) ?? false)
  }

  facts(): CallFacts {
    return {
      request: this.request,
      endpoint: this.config.endpoint,
      endpointVariable: this.config.endpointVariable,
      operation: () => this.operation,
      attemptTimeoutMs: this.config.plan.attemptTimeoutMs,
    }
  }

  attempt(context: Retry.AttemptContext): Effect.Effect<ArmRawResponse, Retry.AttemptFailure<ArmError>> {
    const { config } = this
    return Effect.matchEffect(
      config.tokens.getToken(config.audience, context.refresh ? { forceRefresh: true } : undefined),
      {
        onFailure: (e) => Effect.fail(final(e)),
        onSuccess: (token) => {
          Metrics.armRequests.unsafeUpdate(1, [])
          return Effect.matchEffect(
            config.wire({
              method: this.request.method,
              origin: this.target.origin,
              path: this.target.path,
              headers: this.headers,
              bearer: token.token,
              body: this.body,
              timeoutMs: context.timeoutMs,
            }),
            {
              onFailure: (failure) => Effect.fail(wireFailure(this.facts(), failure)),
              onSuccess: (response) => {
                const metadata = metadataOf(response.headers, this.clientRequestId)
                const lowReads = metadata.remainingReads !== undefined && metadata.remainingReads < LOW_READS
                return !this.debug && !lowReads && this.accepted(response.status)
                  ? succeed(response, metadata, context.attempt)
                  : this.answer(response, metadata, context, token.token)
              },
            },
          )
        },
      },
    )
  }

  /** Everything but a quiet success: logs, then an answer or a retry decision. */
  answer(
    response: WireResponse,
    metadata: ArmMetadata,
    context: Retry.AttemptContext,
    bearer: Redacted.Redacted<string>,
  ): Effect.Effect<ArmRawResponse, Retry.AttemptFailure<ArmError>> {
    const call = this
    const { method } = this.request
    return Effect.gen(function* () {
      const { status } = response
      if (call.debug) {
        yield* Effect.logDebug(`ARM ${method} ${call.pathForLogs()} → ${status}`).pipe(
          Effect.annotateLogs({
            requestId: metadata.requestId ?? "",
            remainingReads: metadata.remainingReads ?? "",
          }),
        )
      }
      if (metadata.remainingReads !== undefined && metadata.remainingReads < LOW_READS) {
        yield* Effect.logWarning(
          `ARM read budget nearly spent: ${metadata.remainingReads} reads remaining for this subscription`,
        )
      }
      if (call.accepted(status)) return yield* succeed(response, metadata, context.attempt)
      const failure = responseFailure(
        call.facts(),
        response,
        metadata,
        {
          attempt: context.attempt,
          refreshUsed: context.refreshUsed,
          now: call.clock.unsafeCurrentTimeMillis(),
        },
        bearer,
      )
      if (call.debug && failure.retry === "refresh") {
        yield* Effect.logDebug(`ARM ${failure.reason}: retrying once with a fresh token`)
      }
      return yield* Effect.fail(failure)
    })
  }

  onRetry(event: Retry.RetryEvent): Effect.Effect<void> {
    return Effect.zipRight(
      this.debug
        ? Effect.logDebug(`ARM ${this.request.method} retry in ${event.delayMs} ms (${event.reason})`)
        : Effect.void,
      Metric.increment(Metrics.retries),
    )
  }

  onGiveUp(): Effect.Effect<void> {
    return Effect.void
  }
}

const succeed = (response: WireResponse, metadata: ArmMetadata, attempt: number) => {
  const result = successOf(response.status, response.text, metadata, attempt)
  return Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(final(result.left))
}
