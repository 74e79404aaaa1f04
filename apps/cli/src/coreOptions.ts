/**
 * What a command line hands the core: the options its services are built with, whether the file token
 * cache is on, and the digest of those inputs the cache finds its tokens by. Built here for the runner
 * and for the cached-token fast path alike (`tokenFromCache.ts`), so the two cannot disagree; free of
 * Effect and commander (type imports only), since the fast path loads neither.
 * @module
 */
import type { IdentitySelector } from "@azmi/core"
import { inputsKey } from "@azmi/core/TokenCacheFile"
import type { GlobalOptions, LayerOptions } from "./context.js"
import type { IdentityFlags } from "./identity.js"

/** Constructors of the selector's cases: the core's `IdentitySelector`, or {@link plainSelectors}. */
export interface SelectorCases {
  readonly ClientId: (args: { readonly clientId: string }) => IdentitySelector
  readonly ObjectId: (args: { readonly objectId: string }) => IdentitySelector
  readonly ResourceId: (args: { readonly resourceId: string }) => IdentitySelector
}

/** The selector's cases as plain data, where the core (and Effect) is not loaded. */
export const plainSelectors: SelectorCases = {
  ClientId: ({ clientId }) => ({ _tag: "ClientId", clientId }),
  ObjectId: ({ objectId }) => ({ _tag: "ObjectId", objectId }),
  ResourceId: ({ resourceId }) => ({ _tag: "ResourceId", resourceId }),
}

/**
 * The selector `--client-id | --object-id | --mi-res-id` name; `undefined` leaves the choice to the
 * core (AZURE_CLIENT_ID, else system-assigned).
 */
export const selectorOf = (flags: IdentityFlags, cases: SelectorCases): IdentitySelector | undefined =>
  flags.clientId !== undefined
    ? cases.ClientId({ clientId: flags.clientId })
    : flags.objectId !== undefined
      ? cases.ObjectId({ objectId: flags.objectId })
      : flags.miResId !== undefined
        ? cases.ResourceId({ resourceId: flags.miResId })
        : undefined

/** The flag that chose `selector` (for errors that name what the user typed). */
export const identityFlagOf = (selector: IdentitySelector): string | undefined => {
  switch (selector._tag) {
    case "ClientId":
      return "--client-id"
    case "ObjectId":
      return "--object-id"
    case "ResourceId":
      return "--mi-res-id"
    case "SystemAssigned":
      return undefined
  }
}

/**
 * The core's options for `globals` and the identity the command chose. The core's resolver reads the
 * global flags over the environment, and names the flag when one is refused (`--imds-endpoint`); the
 * identity flags arrive as a selector, named by their flag too.
 */
export const layerOptions = (
  globals: Pick<GlobalOptions, "imdsEndpoint" | "armEndpoint" | "timeout">,
  identity: IdentitySelector | undefined,
): LayerOptions => {
  const flags = {
    ...(globals.imdsEndpoint === undefined ? {} : { "--imds-endpoint": globals.imdsEndpoint }),
    ...(globals.armEndpoint === undefined ? {} : { "--arm-endpoint": globals.armEndpoint }),
  }
  return {
    ...(Object.keys(flags).length === 0 ? {} : { flags }),
    ...(globals.timeout === undefined ? {} : { deadlineMs: Math.round(globals.timeout * 1000) }),
    ...(identity === undefined ? {} : { identity, identitySetBy: identityFlagOf(identity) }),
  }
}

/** Whether the file token cache is on: `--cache`, or `AZMI_TOKEN_CACHE=1`. */
export const cacheWanted = (
  globals: Pick<GlobalOptions, "cache">,
  env: Readonly<Record<string, string | undefined>>,
): boolean => globals.cache === true || env.AZMI_TOKEN_CACHE === "1"

const selectorData = (selector: IdentitySelector): ReadonlyArray<string> => {
  switch (selector._tag) {
    case "ClientId":
      return [selector._tag, selector.clientId]
    case "ObjectId":
      return [selector._tag, selector.objectId]
    case "ResourceId":
      return [selector._tag, selector.resourceId]
    case "SystemAssigned":
      return [selector._tag]
  }
}

/**
 * The digest of everything the core's resolver reads for `options` in `env` (see
 * `TokenCacheFile.inputsKey`): every option, as plain data, and the environment.
 */
export const cacheInputs = (
  options: LayerOptions,
  env: Readonly<Record<string, string | undefined>>,
): string => {
  const { flags, deadlineMs, identity, identitySetBy, ...rest } = options
  // A new option must be added here too, or two processes that differ in it would share tokens.
  const none: Record<string, never> = rest
  return inputsKey(
    {
      flags: Object.entries(flags ?? {})
        .filter(([, value]) => value !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1)),
      deadlineMs: deadlineMs ?? null,
      identity: identity === undefined ? null : selectorData(identity),
      identitySetBy: identitySetBy ?? null,
      ...none,
    },
    env,
  )
}
