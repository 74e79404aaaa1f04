/**
 * `azmi token [--resource URI | --scope SCOPE] [--client-id | --object-id | --mi-res-id] [--decode]`.
 * @module
 */
import { type Command, Option } from "commander"
import type { TokenFlags } from "../actions/token.js"
import { type CliDeps, contextOf } from "../context.js"
import { addIdentityOptions } from "../identity.js"

export const registerToken = (program: Command, deps: CliDeps): void => {
  const cmd = program
    .command("token")
    .summary("get an access token for the managed identity")
    .description(
      "Get an access token (like `az account get-access-token`). --decode prints the JWT's header and claims instead.",
    )
    .addOption(new Option("--resource <uri>", "resource (audience) of the token").conflicts("scope"))
    .addOption(new Option("--scope <scope>", "scope, e.g. https://management.azure.com/.default"))
    .option("--decode", "print the token's header and claims, not the token")
  addIdentityOptions(cmd).action(async (flags: TokenFlags, command: Command) =>
    (await import("../actions/token.js")).token(contextOf(command, deps), flags),
  )
}
