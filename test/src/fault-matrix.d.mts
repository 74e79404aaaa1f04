/** Types of `fault-matrix.mjs` (the table itself is plain JavaScript so the README generator runs on Node 20). */
import type { FaultSpec } from "@azmi/emulator"

/** What the core must produce: `success`, or the `_tag` of the typed error. */
export type CoreOutcome =
  | "success"
  | "TokenRequestFailed"
  | "ImdsThrottled"
  | "ImdsUnavailable"
  | "MalformedTokenResponse"
  | "Timeout"
  | "AuthorizationFailed"
  | "ResourceGroupNotFound"
  | "ArmRequestFailed"
  | "ArmThrottled"
  | "InvalidAuthenticationToken"

export interface CoreExpectation {
  readonly outcome: CoreOutcome
  /** IMDS token requests the emulator answered (or saw reset). */
  readonly imds: number
  /** ARM requests the emulator answered (or saw reset). */
  readonly arm: number
  /** Inclusive bounds of the TestClock time the call took, in ms. */
  readonly elapsedMs: readonly [number, number]
}

export interface ShellExpectation {
  /** Budgets: environment of the CLI; the same values as core options for the in-process HTTP app. */
  readonly env: Readonly<Record<string, string>>
  /** A real-time replacement for the row's fault (e.g. shorter latency). */
  readonly fault?: FaultSpec
  /** `azmi group show` exit code. */
  readonly cli: number
  /** `GET /v1/subscriptions/{sub}/resourceGroups/DevTest` status. */
  readonly http: number
  readonly imds: number
  readonly arm: number
  /** Schedule time the shell run may spend (wall time is checked against this plus `shellSlackMs`). */
  readonly maxElapsedMs: number
  readonly note?: string
}

export interface FaultRow {
  readonly id: string
  readonly upstream: "IMDS" | "ARM"
  readonly title: string
  readonly fault: FaultSpec | null
  /** Latency the core row adds on the TestClock before handing back IMDS's answer (first request only). */
  readonly clientLatencyMs?: number
  /** IMDS points at a port with no listener. */
  readonly noListener?: boolean
  readonly core: CoreExpectation
  readonly shells: ShellExpectation
}

export declare const shellSlackMs: number
export declare const faultMatrix: ReadonlyArray<FaultRow>
