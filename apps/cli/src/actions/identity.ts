/** The core's identity selector for `--client-id | --object-id | --mi-res-id`. */
import { IdentitySelector } from "@azmi/core"
import { selectorOf as selectorOfFlags } from "../coreOptions.js"
import type { IdentityFlags } from "../identity.js"

/** The selector the flags name; `undefined` leaves the choice to the core (AZURE_CLIENT_ID, else system-assigned). */
export const selectorOf = (flags: IdentityFlags): IdentitySelector | undefined =>
  selectorOfFlags(flags, IdentitySelector)
