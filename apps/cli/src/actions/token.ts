/**
 * `azmi token`: an access token like `az account get-access-token`, or with `--decode` its JWT header
 * and claims (never the signature-bearing token).
 * @module
 */
import { type AccessToken, TokenProvider } from "@azmi/core"
import { Effect, Redacted } from "effect"
import type { CliDeps, CommandContext } from "../context.js"
import type { IdentityFlags } from "../identity.js"
import { decodeJwt } from "../jwt.js"
import { run } from "../runner.js"
import { UsageError } from "../usage.js"
import { selectorOf } from "./identity.js"

/** The options of `token`. */
export interface TokenFlags extends IdentityFlags {
  readonly resource?: string
  readonly scope?: string
  readonly decode?: boolean
}

/**
 * ARM's audience unless AZMI_ARM_AUDIENCE says otherwise (sovereign clouds); blank counts as unset, as
 * in the core. (The literal, not `ArmClient.DefaultArmAudience`: a cached `azmi token` must not load
 * the ARM client and its HTTP stack.)
 */
export const defaultResource = (env: CliDeps["env"]) =>
  env.AZMI_ARM_AUDIENCE === undefined || env.AZMI_ARM_AUDIENCE.trim() === ""
    ? "https://management.azure.com/"
    : env.AZMI_ARM_AUDIENCE

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

/**
 * `--decode` of a token that is not a JWT (some resources get opaque or encrypted tokens): the request
 * as given cannot be answered, so a usage error (exit 2) — not an unexpected failure. The token itself
 * is never echoed.
 */
export class TokenNotDecodable extends UsageError {
  override readonly name = "TokenNotDecodable"
  constructor(resource: string) {
    super(
      `The token for ${resource} is not a JWT (an opaque or encrypted token), so --decode has nothing to show; run without --decode to print the token.`,
    )
  }
}

export const decodedOutput = (token: AccessToken) => {
  const decoded = decodeJwt(Redacted.value(token.token))
  return decoded === undefined ? Effect.fail(new TokenNotDecodable(token.resource)) : Effect.succeed(decoded)
}

export const token = (ctx: CommandContext, flags: TokenFlags) => {
  const target = flags.scope ?? flags.resource ?? defaultResource(ctx.deps.env)
  const effect = Effect.flatMap(TokenProvider, (tp) => tp.getToken(target)).pipe(
    Effect.flatMap(
      (token): Effect.Effect<object, TokenNotDecodable> =>
        flags.decode === true ? decodedOutput(token) : Effect.succeed(tokenOutput(token)),
    ),
  )
  return run(ctx, effect, { identity: selectorOf(flags) })
}
