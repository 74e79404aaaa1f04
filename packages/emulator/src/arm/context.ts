/**
 * What ARM route handlers share: the world, the issuer, the clock, the base URL, and the caller of one
 * request after authentication and the common checks.
 */
import type { RouteRequest } from "../http.js"
import type { Subscription, WorldStore } from "../world/model.js"
import type { Caller } from "./auth.js"

export interface ArmContext {
  readonly store: WorldStore
  readonly now: () => number
  /** This server's base URL (for `nextLink`). */
  readonly baseUrl: () => string
}

export interface ArmCall {
  readonly ctx: ArmContext
  readonly req: RouteRequest
  readonly caller: Caller
  readonly apiVersion: string
  /** Present on subscription-scoped routes (already checked to exist and belong to the caller's tenant). */
  readonly subscription: Subscription | undefined
}

/** Case-insensitive query lookup (`$skipToken` / `$skiptoken`, `$Filter`…). */
export const queryParam = (query: URLSearchParams, name: string): string | null => {
  const lower = name.toLowerCase()
  for (const [k, v] of query) if (k.toLowerCase() === lower) return v
  return null
}

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const parseJsonBody = (
  body: string,
): { ok: true; value: unknown } | { ok: false; message: string } => {
  try {
    return { ok: true, value: body.trim() === "" ? {} : JSON.parse(body) }
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) }
  }
}

export const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)
