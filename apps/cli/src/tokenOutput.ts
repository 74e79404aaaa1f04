/**
 * What `azmi token` asks for and prints — the resource, the `az account get-access-token` shape, the
 * `--decode` view — for the command (`actions/token.ts`) and for its cached fast path
 * (`tokenFromCache.ts`) alike. Free of Effect and the core.
 * @module
 */
import { type DecodedJwt, decodeJwt } from "./jwt.js"

/** The options of `token` that choose what to ask for and what to print. */
export interface TokenRequestFlags {
  readonly resource?: string | undefined
  readonly scope?: string | undefined
  readonly decode?: boolean | undefined
}

/**
 * ARM's audience unless AZMI_ARM_AUDIENCE says otherwise (sovereign clouds); blank counts as unset, as
 * in the core. (The literal, not `ArmClient.DefaultArmAudience`: a cached `azmi token` must not load
 * the ARM client and its HTTP stack.)
 */
export const defaultResource = (env: Readonly<Record<string, string | undefined>>): string =>
  env.AZMI_ARM_AUDIENCE === undefined || env.AZMI_ARM_AUDIENCE.trim() === ""
    ? "https://management.azure.com/"
    : env.AZMI_ARM_AUDIENCE

/** The resource or scope `azmi token` asks for. */
export const tokenTarget = (flags: TokenRequestFlags, env: Readonly<Record<string, string | undefined>>) =>
  flags.scope ?? flags.resource ?? defaultResource(env)

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** `az`'s `expiresOn`: local time, `YYYY-MM-DD HH:MM:SS.ffffff`. */
export const azDateTime = (epochMs: number): string => {
  const d = new Date(epochMs)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds() * 1000, 6)}`
}

/** A token with its text in the clear (it is printed as data, on request). */
export interface PrintableToken {
  readonly accessToken: string
  readonly tokenType: string
  readonly resource: string
  readonly expiresOn: number
}

/** The shape `az account get-access-token` prints. */
export const tokenOutput = (token: PrintableToken) => ({
  accessToken: token.accessToken,
  expiresOn: azDateTime(token.expiresOn),
  expires_on: Math.floor(token.expiresOn / 1000),
  tokenType: token.tokenType,
  resource: token.resource,
})

/**
 * What `azmi token` prints for `token`: the `az` shape, or with `--decode` the JWT's header and claims
 * — `undefined` when the token is not a JWT (some resources get opaque or encrypted tokens).
 */
export const tokenResult = (
  token: PrintableToken,
  flags: Pick<TokenRequestFlags, "decode">,
): ReturnType<typeof tokenOutput> | DecodedJwt | undefined =>
  flags.decode === true ? decodeJwt(token.accessToken) : tokenOutput(token)
