/**
 * `--client-id | --object-id | --mi-res-id`: which managed identity to use (mutually exclusive).
 * @module
 */
import { IdentitySelector } from "@azmi/core"
import { type Command, Option } from "commander"

export interface IdentityFlags {
  readonly clientId?: string | undefined
  readonly objectId?: string | undefined
  readonly miResId?: string | undefined
}

/** Adds the three identity options to `cmd`. */
export const addIdentityOptions = (cmd: Command): Command =>
  cmd
    .addOption(
      new Option("--client-id <id>", "user-assigned identity by client id").conflicts([
        "objectId",
        "miResId",
      ]),
    )
    .addOption(new Option("--object-id <id>", "user-assigned identity by object id").conflicts(["miResId"]))
    .addOption(new Option("--mi-res-id <id>", "user-assigned identity by ARM resource id"))

/** The selector the flags name; `undefined` leaves the choice to the core (AZURE_CLIENT_ID, else system-assigned). */
export const selectorOf = (flags: IdentityFlags): IdentitySelector | undefined =>
  flags.clientId !== undefined
    ? IdentitySelector.ClientId({ clientId: flags.clientId })
    : flags.objectId !== undefined
      ? IdentitySelector.ObjectId({ objectId: flags.objectId })
      : flags.miResId !== undefined
        ? IdentitySelector.ResourceId({ resourceId: flags.miResId })
        : undefined
