/**
 * One managed-identity HTTP call (token or instance metadata) with IMDS retry rules and error
 * classification, shared by every source.
 * @internal
 */
import { Headers, type HttpClient, type HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Clock, Effect, type Either, Metric } from "effect"
import {
  IdentityNotFound,
  ImdsThrottled,
  ImdsUnavailable,
  InvalidResource,
  MultipleIdentities,
  ServerCertificateMismatch,
  type Timeout,
  Timeout as TimeoutError,
  TlsCertificateRejected,
  type TokenError,
  TokenRequestFailed,
} from "../Errors.js"
import * as Metrics from "../Metrics.js"
import { type AttemptFailure, parseRetryAfter, type RetryPolicy, retrying } from "../Retry.js"
import { decodeErrorBody } from "../TokenResponse.js"
import { classifyTransport } from "./transportFailure.js"

export interface MiCall<A> {
  readonly client: HttpClient.HttpClient
  /**
   * The request, or how to build it before each attempt (a credential that may change between attempts,
   * such as a federated token; a failure to build it ends the call with that error, unretried).
   */
  readonly request:
    | HttpClientRequest.HttpClientRequest
    | Effect.Effect<HttpClientRequest.HttpClientRequest, TokenError>
  readonly policy: RetryPolicy
  /** e.g. `IMDS token request`. */
  readonly operation: string
  /** Shown in errors (no query string). */
  readonly endpoint: string
  /** e.g. `system-assigned`; for IdentityNotFound. */
  readonly selector: string
  /** The resource asked for, for InvalidResource. */
  readonly resource: string
  /** Decode a 200 body. */
  readonly decode: (text: string, nowMs: number) => Either.Either<A, TokenError>
  /** Extra header names to redact if the request is ever shown. */
  readonly redactHeaders?: ReadonlyArray<string> | undefined
  /** The option or environment variable that chose the endpoint, for hints (absent: the default). */
  readonly endpointVariable?: string | undefined
  /** The option or environment variable holding the secret the endpoint checks, for hints. */
  readonly secretVariable?: string | undefined
  /** Count attempts in `azmi_imds_requests_total` (managed-identity endpoints). Default true. */
  readonly countRequests?: boolean | undefined
  /** The header that carries the secret (absent: App Service's `X-IDENTITY-HEADER`), for hints. */
  readonly secretHeader?: string | undefined
  /** The host, when it is not a VM's IMDS (e.g. `Service Fabric`), for hints. */
  readonly source?: string | undefined
  /**
   * Which failed statuses (other than 429 and 410) are retried with backoff. Default: 404, 408 and every
   * 5xx (IMDS's guidance, which App Service, Arc, Azure ML and Cloud Shell share).
   */
  readonly retryOn?: ((status: number) => boolean) | undefined
  /**
   * An authentication challenge answered within the attempt (Azure Arc): for a 401, `answer` returns the
   * request to send instead (or fails, sending nothing) and what a 401 to that request fails with — one
   * challenge round per attempt.
   */
  readonly challenge?: Challenge | undefined
}

/** See {@link MiCall.challenge}. */
export interface Challenge {
  readonly answer: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<
    {
      readonly request: HttpClientRequest.HttpClientRequest
      readonly refused: () => TokenError
    },
    TokenError
  >
}

/** IMDS's retryable statuses (besides 429 and 410): 404, 408 and every 5xx. */
export const imdsRetryable = (status: number): boolean =>
  status === 404 || status === 408 || (status >= 500 && status <= 599)

/** What no challenge could answer: the attempt fails at once with `error`. */
const refusedChallenge = (status: number, error: TokenError): AttemptFailure<TokenError> => ({
  retry: "no",
  status,
  reason: "challenge not answered",
  error: () => error,
})

/** Perform a managed-identity call with retries; every failure is a {@link TokenError}. */
export const miCall = <A>(call: MiCall<A>): Effect.Effect<A, TokenError | Timeout> => {
  const attempt = (n: number): Effect.Effect<A, AttemptFailure<TokenError>> =>
    Effect.gen(function* () {
      if (call.countRequests !== false) yield* Metric.increment(Metrics.imdsRequests)
      yield* Effect.logDebug(`${call.operation}: attempt ${n}`).pipe(Effect.annotateLogs({ attempt: n }))
      const request = Effect.isEffect(call.request)
        ? yield* Effect.mapError(
            call.request,
            (error): AttemptFailure<TokenError> => ({ retry: "no", reason: error._tag, error: () => error }),
          )
        : call.request
      const first = yield* send(request)
      let { response, text } = first
      if (response.status === 401 && call.challenge !== undefined) {
        const answer = yield* Effect.mapError(call.challenge.answer(response), (error) =>
          refusedChallenge(401, error),
        )
        const second = yield* send(answer.request)
        if (second.response.status === 401) return yield* Effect.fail(refusedChallenge(401, answer.refused()))
        response = second.response
        text = second.text
      }
      const now = yield* Clock.currentTimeMillis
      const status = response.status
      yield* Effect.logDebug(`${call.operation}: HTTP ${status}`).pipe(
        Effect.annotateLogs({ attempt: n, status }),
      )
      if (status >= 200 && status < 300) {
        const decoded = call.decode(text, now)
        if (decoded._tag === "Right") return decoded.right
        const error = decoded.left
        return yield* Effect.fail<AttemptFailure<TokenError>>({
          retry: "no",
          reason: "malformed response",
          status,
          error: () => error,
        })
      }
      return yield* Effect.fail(
        classifyStatus(call, status, text, parseRetryAfter(response.headers["retry-after"], now)),
      )
    })

  const send = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.gen(function* () {
      const response = yield* call.client.execute(request).pipe(
        Effect.mapError((error): AttemptFailure<TokenError> => {
          const failure = classifyTransport(error._tag === "RequestError" ? error.cause : error)
          switch (failure._tag) {
            case "Unavailable":
              return {
                retry: "no",
                reason: failure.detail,
                error: () =>
                  new ImdsUnavailable({
                    endpoint: call.endpoint,
                    reason: failure.reason,
                    detail: failure.detail,
                    endpointVariable: call.endpointVariable,
                  }),
              }
            case "Certificate":
              return {
                retry: "no",
                reason: failure.code,
                error: () =>
                  new TlsCertificateRejected({
                    endpoint: call.endpoint,
                    code: failure.code,
                    detail: failure.detail,
                  }),
              }
            case "PinMismatch":
              return {
                retry: "no",
                reason: "certificate thumbprint mismatch",
                error: () =>
                  new ServerCertificateMismatch({
                    endpoint: call.endpoint,
                    expected: failure.expected,
                    actual: failure.actual,
                    variable: failure.variable,
                  }),
              }
          }
          const detail = failure.detail
          return {
            retry: "backoff",
            reason: `transport error ${detail}`,
            error: (attempts) =>
              new TokenRequestFailed({
                ...variablesOf(call),
                endpoint: call.endpoint,
                status: 0,
                error: "network_error",
                errorDescription: detail,
                attempts,
              }),
          }
        }),
      )
      const text = yield* response.text.pipe(
        Effect.mapError(
          (): AttemptFailure<TokenError> => ({
            retry: "backoff",
            reason: "the response body could not be read",
            status: response.status,
            error: (attempts) =>
              new TokenRequestFailed({
                ...variablesOf(call),
                endpoint: call.endpoint,
                status: response.status,
                error: "network_error",
                errorDescription: "the response body could not be read",
                attempts,
              }),
          }),
        ),
      )
      return { response, text }
    })

  const redact = call.redactHeaders
  const run = retrying<A, TokenError>({
    policy: call.policy,
    operation: call.operation,
    attempt,
    onAttemptTimeout: (millis) => ({
      retry: "backoff",
      reason: `no response within ${millis} ms`,
      error: () => new TimeoutError({ operation: `${call.operation} attempt`, millis, budget: "attempt" }),
    }),
  })
  return redact === undefined || redact.length === 0
    ? run
    : Effect.locallyWith(run, Headers.currentRedactedNames, (names) => [...names, ...redact])
}

const variablesOf = (call: MiCall<unknown>) => ({
  endpointVariable: call.endpointVariable,
  secretVariable: call.secretVariable,
  secretHeader: call.secretHeader,
})

const classifyStatus = <A>(
  call: MiCall<A>,
  status: number,
  text: string,
  retryAfterMs: number | undefined,
): AttemptFailure<TokenError> => {
  const body = decodeErrorBody(text)
  const description = body.errorDescription
  const failed = (retry: AttemptFailure<TokenError>["retry"]): AttemptFailure<TokenError> => ({
    retry,
    status,
    retryAfterMs,
    reason: `HTTP ${status}${body.error === undefined ? "" : ` ${body.error}`}`,
    error: (attempts) =>
      new TokenRequestFailed({
        ...variablesOf(call),
        endpoint: call.endpoint,
        status,
        error: body.error,
        errorDescription: description,
        attempts,
      }),
  })
  // Docker Desktop's proxy answers for 169.254.169.254 with this 403 when there is no IMDS behind it.
  if (status === 403 && /unreachable (network|host)/i.test(description ?? text)) {
    return {
      retry: "no",
      status,
      reason: "unreachable network (403 from a local proxy)",
      error: () =>
        new ImdsUnavailable({
          endpoint: call.endpoint,
          reason: "Unreachable",
          detail: description ?? "HTTP 403",
          endpointVariable: call.endpointVariable,
        }),
    }
  }
  if (status === 400 || status === 404) {
    // Service Fabric says it with a code (`ManagedIdentityNotFound`), the others in words.
    if (
      body.error === "ManagedIdentityNotFound" ||
      (description !== undefined && /identity not found/i.test(description))
    ) {
      return {
        retry: "no",
        status,
        reason: "identity not found",
        error: () => new IdentityNotFound({ selector: call.selector, description, source: call.source }),
      }
    }
    if (description !== undefined && /multiple user assigned identities/i.test(description)) {
      return {
        retry: "no",
        status,
        reason: "multiple identities",
        error: () => new MultipleIdentities({ description }),
      }
    }
  }
  if (
    status >= 400 &&
    status < 500 &&
    ((body.error !== undefined && /^invalid_?resource$/i.test(body.error)) ||
      (description !== undefined && /AADSTS(50001|500011)\b/.test(description)))
  ) {
    return {
      retry: "no",
      status,
      reason: "invalid resource",
      error: () => new InvalidResource({ resource: call.resource, description }),
    }
  }
  if (status === 429) {
    return {
      retry: "backoff",
      status,
      retryAfterMs,
      reason: "HTTP 429 throttled",
      error: (attempts) =>
        new ImdsThrottled({
          attempts,
          retryAfterSeconds: retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000),
        }),
    }
  }
  if (status === 410) return failed("gone")
  if ((call.retryOn ?? imdsRetryable)(status)) return failed("backoff")
  return failed("no")
}
