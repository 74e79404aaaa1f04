/**
 * What a failed HTTP exchange that produced no response means, decided once for every transport
 * (IMDS, App Service, the service-principal login, ARM): nothing listens (fail fast), the server's TLS
 * certificate was rejected (permanent: retrying only repeats the same handshake), or anything else
 * (a reset, a stall: worth retrying).
 * @internal
 */
import type { ImdsUnavailable } from "../Errors.js"

/** Node / undici error codes meaning "nothing to talk to". */
const unavailableCodes: Record<string, ImdsUnavailable["reason"]> = {
  ECONNREFUSED: "ConnectionRefused",
  UND_ERR_CONNECT_TIMEOUT: "ConnectTimeout",
  EHOSTUNREACH: "Unreachable",
  ENETUNREACH: "Unreachable",
  EHOSTDOWN: "Unreachable",
  ENOTFOUND: "Unreachable",
  EAI_AGAIN: "Unreachable",
}

/**
 * Node's codes for a server certificate that failed verification (OpenSSL's X509_V_ERR_* names, and
 * Node's own host-name check).
 */
const certificateCodes = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_TLS_CERT_ALTNAME_FORMAT",
])

/** One link of a cause chain that carries a code. */
interface Coded {
  readonly code: string
  readonly message: string
  readonly error: object
}

/**
 * The code of the error a pinning connector fails a connection with when the server's certificate is not
 * the pinned one (`internal/pinnedTls`); it carries `expected`, `actual` and `variable`.
 */
export const PIN_MISMATCH_CODE = "ERR_AZMI_CERTIFICATE_PIN"

/** Codes found anywhere in a cause chain (`cause`, `errors` of AggregateError), outermost first. */
const codedErrors = (error: unknown): ReadonlyArray<Coded> => {
  const found: Array<Coded> = []
  const seen = new Set<unknown>()
  const walk = (e: unknown, depth: number) => {
    if (e === null || typeof e !== "object" || seen.has(e) || depth > 8) return
    seen.add(e)
    const rec = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown }
    if (typeof rec.code === "string") {
      found.push({
        code: rec.code,
        message: typeof rec.message === "string" ? rec.message : rec.code,
        error: e,
      })
    }
    walk(rec.cause, depth + 1)
    if (Array.isArray(rec.errors)) for (const inner of rec.errors) walk(inner, depth + 1)
  }
  walk(error, 0)
  return found
}

/** What a transport failure means. */
export type TransportFailure =
  | {
      readonly _tag: "Unavailable"
      readonly reason: ImdsUnavailable["reason"]
      /** The error code, e.g. `ECONNREFUSED`. */
      readonly detail: string
    }
  | {
      readonly _tag: "Certificate"
      /** Node's code, e.g. `SELF_SIGNED_CERT_IN_CHAIN`. */
      readonly code: string
      /** Node's words for it, e.g. `self-signed certificate in certificate chain`. */
      readonly detail: string
    }
  | {
      readonly _tag: "PinMismatch"
      /** The pinned thumbprint and the variable that holds it. */
      readonly expected: string
      readonly variable: string
      /** The presented certificate's thumbprint. */
      readonly actual: string
    }
  | {
      readonly _tag: "Retryable"
      /** The first error code, else the message. */
      readonly detail: string
    }

/**
 * Classify the cause of a failed exchange.
 *
 * @example
 * ```ts
 * classifyTransport(Object.assign(new Error("self-signed certificate in certificate chain"), { code: "SELF_SIGNED_CERT_IN_CHAIN" }))
 * // { _tag: "Certificate", code: "SELF_SIGNED_CERT_IN_CHAIN", detail: "self-signed certificate in certificate chain" }
 * ```
 */
export const classifyTransport = (cause: unknown): TransportFailure => {
  const coded = codedErrors(cause)
  const pin = coded.find((c) => c.code === PIN_MISMATCH_CODE)?.error as
    | { expected?: unknown; actual?: unknown; variable?: unknown }
    | undefined
  if (pin !== undefined) {
    return {
      _tag: "PinMismatch",
      expected: String(pin.expected),
      actual: String(pin.actual),
      variable: String(pin.variable),
    }
  }
  const certificate = coded.find((c) => certificateCodes.has(c.code))
  if (certificate !== undefined) {
    return { _tag: "Certificate", code: certificate.code, detail: certificate.message }
  }
  for (const c of coded) {
    const reason = unavailableCodes[c.code]
    if (reason !== undefined) return { _tag: "Unavailable", reason, detail: c.code }
  }
  const detail = coded[0]?.code ?? (cause instanceof Error ? cause.message : String(cause))
  return { _tag: "Retryable", detail }
}
