/**
 * What a command line hands the core: the options its services are built with, and whether the file
 * token cache is on. Built here for the runner and for the cached-token fast path alike
 * (`tokenFromCache.ts`), so the two cannot disagree (the core digests the options into the key the
 * cache finds its tokens by: `TokenCacheFile.optionsInputsKey`); free of Effect and commander (type
 * imports only), since the fast path loads neither.
 * @module
 */
import type { IdentitySelector } from "@azmi/core"
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
