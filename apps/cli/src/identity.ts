/**
 * `--client-id | --object-id | --mi-res-id`: which managed identity to use (mutually exclusive).
 * @module
 */
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
