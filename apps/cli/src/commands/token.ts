/**
 * `azmi token`: an access token like `az account get-access-token`, or with `--decode` its JWT header
 * and claims (never the signature-bearing token).
 * @module
 */
import { type AccessToken, TokenProvider } from "@azmi/core"
import { type Command, Option } from "commander"
import { Effect, Redacted } from "effect"
import { type CliDeps, contextOf, run } from "../context.js"
import { addIdentityOptions, type IdentityFlags, selectorOf } from "../identity.js"
import { decodeJwt } from "../jwt.js"

interface TokenFlags extends IdentityFlags {
  readonly resource?: string
  readonly scope?: string
  readonly decode?: boolean
}

/** ARM's audience unless AZMI_ARM_AUDIENCE says otherwise (sovereign clouds). */
export const defaultResource = (env: CliDeps["env"]) =>
  env.AZMI_ARM_AUDIENCE ?? "https://management.azure.com/"

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** `az`'s `expiresOn`: local time, `YYYY-MM-DD HH:MM:SS.ffffff`. */
export const azDateTime = (epochMs: number): string => {
  const d = new Date(epochMs)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds() * 1000, 6)}`
}

/** The shape `az account get-access-token` prints (the token printed as data, on request). */
export const tokenOutput = (token: AccessToken) => ({
  accessToken: Redacted.value(token.token),
  expiresOn: azDateTime(token.expiresOn),
  expires_on: Math.floor(token.expiresOn / 1000),
  tokenType: token.tokenType,
  resource: token.resource,
})

export const decodedOutput = (token: AccessToken) => {
  const decoded = decodeJwt(Redacted.value(token.token))
  return decoded === undefined
    ? Effect.fail(new Error("The token is not a JWT, so there is nothing to decode."))
    : Effect.succeed(decoded)
}

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
  addIdentityOptions(cmd).action(async (flags: TokenFlags, command: Command) => {
    const ctx = contextOf(command, deps)
    const target = flags.scope ?? flags.resource ?? defaultResource(deps.env)
    const effect = Effect.flatMap(TokenProvider, (tp) => tp.getToken(target)).pipe(
      Effect.flatMap(
        (token): Effect.Effect<unknown, Error> =>
          flags.decode === true ? decodedOutput(token) : Effect.succeed(tokenOutput(token)),
      ),
    )
    await run(ctx, effect, { identity: selectorOf(flags) })
  })
}
