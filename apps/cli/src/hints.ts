/**
 * The HINT line for an error, for the command that was run. The core's hints are true for every caller
 * (the CLI, azmi-http, the SDK credential), so they name environment variables; the CLI adds the
 * options that the command in use actually has — and never names one it would reject.
 * @module
 */
import type { AzmiError } from "@azmi/core"
import type { CommandContext } from "./context.js"

const identityFlags = "--client-id, --object-id or --mi-res-id"

/**
 * `error.hint`, plus what this command line can do about it.
 *
 * @example
 * ```ts
 * hintFor(new MultipleIdentities({}), tokenCtx) // "Name the identity to use: set AZURE_CLIENT_ID to its client id. Or pass --client-id, --object-id or --mi-res-id."
 * hintFor(new MultipleIdentities({}), groupCtx) // the core's hint alone: `group` has no identity options
 * ```
 */
export const hintFor = (error: AzmiError, ctx: CommandContext): string | undefined => {
  const hint = error.hint
  switch (error._tag) {
    case "MultipleIdentities":
      return ctx.identityFlags ? `${hint ?? ""} Or pass ${identityFlags}.`.trim() : hint
    case "IdentityNotFound":
      return ctx.identityFlags && error.selector === "system-assigned"
        ? `${hint ?? ""} Or pass ${identityFlags} for a user-assigned one.`.trim()
        : hint
    case "Timeout":
      // The whole-command bound is the CLI's own (`runner.ts`): say which limit it was.
      return ctx.globals.timeout !== undefined
        ? `Raise --timeout (now ${ctx.globals.timeout} s) if the endpoints are just slow.`
        : hint
    default:
      return hint
  }
}
