/**
 * `azmi token`: an access token like `az account get-access-token`, or with `--decode` its JWT header
 * and claims (never the signature-bearing token).
 * @module
 */
import { TokenProvider } from "@azmi/core"
import { Effect, Redacted } from "effect"
import type { CommandContext } from "../context.js"
import type { IdentityFlags } from "../identity.js"
import { run } from "../runner.js"
import { type TokenRequestFlags, tokenResult, tokenTarget } from "../tokenOutput.js"
import { UsageError } from "../usage.js"
import { selectorOf } from "./identity.js"

/** The options of `token`. */
export interface TokenFlags extends IdentityFlags, TokenRequestFlags {}

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

export const token = (ctx: CommandContext, flags: TokenFlags) => {
  const effect = Effect.flatMap(TokenProvider, (tp) => tp.getToken(tokenTarget(flags, ctx.deps.env))).pipe(
    Effect.flatMap((token) => {
      const result = tokenResult({ ...token, accessToken: Redacted.value(token.token) }, flags)
      return result === undefined
        ? Effect.fail(new TokenNotDecodable(token.resource))
        : Effect.succeed(result)
    }),
  )
  return run(ctx, effect, { identity: selectorOf(flags) })
}
