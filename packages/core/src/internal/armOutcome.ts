/**
 * ARM's retry rules: what one attempt's outcome means to the retry engine. 429 is a throttle with a
 * budget of its own (after `Retry-After`); 408 and 5xx, transport errors and attempt timeouts are
 * ordinary retries; a 401 for an expired or revoked token is retried once with a refreshed token;
 * a rejected certificate and everything else fail at once, decoded into typed errors.
 * @internal
 */
import { Either, Redacted } from "effect"
import type { ArmRawResponse, ArmRequest, ArmRetryOptions } from "../ArmClient.js"
import { decodeArmError } from "../ArmErrorDecoder.js"
import type { ArmMetadata } from "../ArmResponse.js"
import type { WireFailure, WireResponse } from "../ArmWire.js"
import {
  type ArmError,
  ArmRequestFailed,
  ArmUnreachable,
  Timeout,
  TlsCertificateRejected,
} from "../Errors.js"
import { type AttemptFailure, parseRetryAfter, type RetryPlan } from "../Retry.js"
import { isGuid } from "./guid.js"
import { payloadOf } from "./jwt.js"

/** The engine's plan for ARM calls. */
export const armPlan = (retry: ArmRetryOptions, attemptTimeoutMs: number, deadlineMs: number): RetryPlan => {
  // Jitter 50–100 % of the exponential delay ("equal jitter"): retries of many clients spread out.
  const backoff = {
    baseDelayMs: retry.baseDelayMs,
    maxDelayMs: retry.maxDelayMs,
    jitter: [0.5, 1] as const,
    maxRetries: retry.maxRetries,
  }
  return {
    backoff,
    throttle: { ...backoff, maxRetries: retry.maxThrottledRetries },
    maxRetryAfterMs: retry.maxRetryAfterMs,
    attemptTimeoutMs,
    deadlineMs,
    pastDeadline: "timeout",
  }
}

const retryableStatus = (status: number) =>
  status === 408 || status === 500 || status === 502 || status === 503 || status === 504

const intHeader = (v: string | undefined) =>
  v !== undefined && /^\d+$/.test(v.trim()) ? Number.parseInt(v, 10) : undefined

/** The request ids and remaining-reads headers of a response. */
export const metadataOf = (
  headers: Readonly<Record<string, string | undefined>>,
  clientRequestId: string,
): ArmMetadata => ({
  requestId: headers["x-ms-request-id"],
  correlationId: headers["x-ms-correlation-request-id"],
  remainingReads: intHeader(headers["x-ms-ratelimit-remaining-subscription-reads"]),
  remainingWrites: intHeader(headers["x-ms-ratelimit-remaining-subscription-writes"]),
  clientRequestId,
})

/** Retry-After as milliseconds: `retry-after-ms`, delta-seconds or an HTTP-date. */
const retryAfterMillis = (headers: Readonly<Record<string, string | undefined>>, now: number) => {
  const ms = headers["retry-after-ms"] ?? headers["x-ms-retry-after-ms"]
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms)
  return parseRetryAfter(headers["retry-after"], now)
}

/**
 * The object id (`oid`) in a bearer token, read without verifying it: it only names who was refused
 * when ARM's 403 names no one (the answer to a HEAD has no body). Only a GUID is taken, as it ends up
 * in a printed command.
 */
const principalOf = (bearer: Redacted.Redacted<string> | undefined): string | undefined => {
  const oid = bearer === undefined ? undefined : payloadOf(Redacted.value(bearer))?.oid
  return typeof oid === "string" && isGuid(oid) ? oid : undefined
}

const BLANK = /^\s*$/

/** A 2xx (or accepted) answer: its JSON body, or `MalformedResponse`. */
export const successOf = (
  status: number,
  text: string,
  metadata: ArmMetadata,
  attempts: number,
): Either.Either<ArmRawResponse, ArmRequestFailed> => {
  let parsed: unknown
  // Same test as `text.trim() !== ""` (\s is exactly what trim strips) without copying the body.
  if (!BLANK.test(text)) {
    try {
      parsed = JSON.parse(text)
    } catch {
      return Either.left(
        new ArmRequestFailed({
          status,
          code: "MalformedResponse",
          armMessage: "ARM answered with a body that is not JSON",
          attempts,
          requestId: metadata.requestId,
          correlationId: metadata.correlationId,
        }),
      )
    }
  }
  return Either.right({ status, body: parsed, metadata })
}

/** An outcome that ends the call now with `error`. */
export const final = (error: ArmError, reason = error._tag): AttemptFailure<ArmError> => ({
  retry: "no",
  reason,
  error: () => error,
})

/** What the call knows when it classifies an outcome. */
export interface CallFacts {
  readonly request: ArmRequest
  readonly endpoint: string
  readonly endpointVariable: string | undefined
  /** e.g. `ARM GET /subscriptions/…`, for `Timeout`. */
  readonly operation: () => string
  readonly attemptTimeoutMs: number
}

/** A failure with no response. */
export const wireFailure = (facts: CallFacts, failure: WireFailure): AttemptFailure<ArmError> => {
  switch (failure._tag) {
    case "Certificate":
      return final(
        new TlsCertificateRejected({ endpoint: facts.endpoint, code: failure.code, detail: failure.detail }),
      )
    case "Transport":
      return {
        retry: "backoff",
        reason: "Transport",
        error: (attempts) =>
          new ArmUnreachable({
            endpoint: facts.endpoint,
            detail: failure.detail,
            attempts,
            endpointVariable: facts.endpointVariable,
          }),
      }
    case "AttemptTimeout":
      return {
        retry: "backoff",
        reason: "AttemptTimeout",
        timedOut: true,
        error: () =>
          new Timeout({ operation: facts.operation(), millis: facts.attemptTimeoutMs, budget: "attempt" }),
      }
  }
}

/**
 * A response that is not an accepted answer, as a retry decision carrying its typed error.
 * `bearer` (the attempt's token) names the principal of a 403 that names no one.
 */
export const responseFailure = (
  facts: CallFacts,
  response: WireResponse,
  metadata: ArmMetadata,
  context: { readonly attempt: number; readonly refreshUsed: boolean; readonly now: number },
  bearer: Redacted.Redacted<string>,
): AttemptFailure<ArmError> => {
  const { status, headers, text } = response
  const retryAfterMs = retryAfterMillis(headers, context.now)
  const { request } = facts
  const decoded = decodeArmError(
    {
      status,
      bodyText: text,
      requestId: metadata.requestId,
      correlationId: metadata.correlationId,
      wwwAuthenticate: headers["www-authenticate"],
      retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
      attempts: context.attempt,
    },
    status === 403 && request.context?.authorization !== undefined
      ? { ...request.context, principalId: principalOf(bearer) }
      : request.context,
  )
  const error = () => decoded
  if (status === 429) return { retry: "throttled", reason: "429", status, retryAfterMs, error }
  if (retryableStatus(status))
    return { retry: "backoff", reason: String(status), status, retryAfterMs, error }
  if (
    decoded._tag === "InvalidAuthenticationToken" &&
    !context.refreshUsed &&
    (decoded.reason === "Expired" || decoded.reason === "Invalid")
  ) {
    // A new token can only help when the old one expired or was revoked; audience or tenant
    // mismatches would fail the same way again.
    return { retry: "refresh", reason: `401 ${decoded.code}`, status, error }
  }
  return { retry: "no", reason: String(status), status, error }
}
