/** The core's identity selector for `--client-id | --object-id | --mi-res-id`. */
import { IdentitySelector } from "@azmi/core"
import type { IdentityFlags } from "../identity.js"

/** The selector the flags name; `undefined` leaves the choice to the core (AZURE_CLIENT_ID, else system-assigned). */
export const selectorOf = (flags: IdentityFlags): IdentitySelector | undefined =>
  flags.clientId !== undefined
    ? IdentitySelector.ClientId({ clientId: flags.clientId })
    : flags.objectId !== undefined
      ? IdentitySelector.ObjectId({ objectId: flags.objectId })
      : flags.miResId !== undefined
        ? IdentitySelector.ResourceId({ resourceId: flags.miResId })
        : undefined
