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
  /** `x-ms-ratelimit-remaining-subscription-writes`, when sent. */
  readonly remainingWrites?: number | undefined
  /** The `x-ms-client-request-id` azmi sent (the same on every retry of one call). */
  readonly clientRequestId?: string | undefined
}

/** A decoded ARM result together with its {@link ArmMetadata}. */
export interface ArmResponse<A> {
  readonly value: A
  readonly metadata: ArmMetadata
}

/**
 * What the test layer of an ARM service (`ResourceGroups.layerTest`, `RoleAssignments.layerTest`) takes
 * besides its data: the metadata of the answers it makes from memory, a listener told of every call
 * before it is answered (what would have reached ARM), and any of the service's methods to answer
 * instead of memory (a failure, a delay on the TestClock…).
 */
export type ArmTestOverrides<Service, Call> = { readonly [K in keyof Service]?: Service[K] | undefined } & {
  readonly metadata?: ArmMetadata | undefined
  readonly onCall?: ((call: Call) => void) | undefined
}
