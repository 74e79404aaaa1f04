/**
 * What ARM said about a response besides its body: ids to quote and the remaining read budget.
 * @module
 */

/** Metadata ARM attaches to every response. */
export interface ArmMetadata {
  /** `x-ms-request-id`. */
  readonly requestId?: string | undefined
  /** `x-ms-correlation-request-id`. */
  readonly correlationId?: string | undefined
  /** `x-ms-ratelimit-remaining-subscription-reads`, when sent. */
  readonly remainingReads?: number | undefined
}

/** A decoded ARM result together with its {@link ArmMetadata}. */
export interface ArmResponse<A> {
  readonly value: A
  readonly metadata: ArmMetadata
}
