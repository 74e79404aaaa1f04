/**
 * `azmi token` with the file token cache on (`--cache`, `AZMI_TOKEN_CACHE=1`), answered from the cache
 * before commander, Effect or the core's services are loaded: a script that asks for a token a
 * hundred times pays for a process that reads one file, not for the whole CLI.
 *
 * It answers only when it is sure to answer exactly as the full command would, and otherwise declines
 * having printed nothing, and the full command runs (and says whatever there is to say):
 * - the command line is a plain `azmi token` line (its own options and the global ones this path
 *   knows, each once, in a form commander reads the same way) — anything else, `--verbose`/`--debug`
 *   (which log the cache's steps) included, declines;
 * - the cache file is trusted and read by the core's own rules (`TokenCacheFile`: ownership,
 *   permissions, no links, bounded calls) — a file the full command would warn about declines;
 * - it holds a fresh token for this resource under the identity these very inputs (the core's options
 *   for this command line, `coreOptions.ts`, and the environment) resolved to when the token was
 *   stored — so nothing is resolved here, and inputs the core would refuse never match;
 * - `AZMI_CA_CERT_FILE` is unset (the core reads that file while resolving; its state is not an input);
 * - and the result renders (`--decode` of a JWT, a `--query` that runs).
 * @module
 */
import { bounded, defaultPath, lookup, optionsInputsKey, readCacheFile } from "@azmi/core/TokenCacheFile"
import { checkOutput, colorAllowed, type GlobalOptions, type Shell } from "./context.js"
import { cacheWanted, layerOptions, plainSelectors, selectorOf } from "./coreOptions.js"
import { ExitCode } from "./exitCodes.js"
import type { IdentityFlags } from "./identity.js"
import { defaultOutput, isOutputFormat } from "./render/formats.js"
import { render } from "./render/index.js"
import { positiveSeconds } from "./seconds.js"
import { type TokenRequestFlags, tokenResult, tokenTarget } from "./tokenOutput.js"

type Globals = Pick<GlobalOptions, "imdsEndpoint" | "armEndpoint" | "query" | "timeout" | "cache"> & {
  readonly output?: string | undefined
}
type TokenLine = { readonly globals: Globals; readonly flags: IdentityFlags & TokenRequestFlags }

// The options this path knows: the program's (anywhere on the line) and `token`'s (after it).
const globalValues: Readonly<Record<string, string>> = {
  "--imds-endpoint": "imdsEndpoint",
  "--arm-endpoint": "armEndpoint",
  "-o": "output",
  "--output": "output",
  "--query": "query",
  "--timeout": "timeout",
}
const globalSwitches: Readonly<Record<string, string>> = { "--cache": "cache", "--only-show-errors": "quiet" }
const tokenValues: Readonly<Record<string, string>> = {
  "--resource": "resource",
  "--scope": "scope",
  "--client-id": "clientId",
  "--object-id": "objectId",
  "--mi-res-id": "miResId",
}
const tokenSwitches: Readonly<Record<string, string>> = { "--decode": "decode" }

/**
 * A plain `azmi token` command line, as commander would read it; `undefined` for anything else (or
 * anything read another way: a repeated option, a value that looks like an option, conflicting options).
 */
export const parseTokenLine = (argv: ReadonlyArray<string>): TokenLine | undefined => {
  const values = new Map<string, string | true>()
  let command: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (!arg.startsWith("-")) {
      if (command !== undefined) return undefined
      command = arg
      continue
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const name = eq < 0 ? arg : arg.slice(0, eq)
    const mine = command === "token" || name in globalValues || name in globalSwitches
    const key = globalValues[name] ?? tokenValues[name] ?? globalSwitches[name] ?? tokenSwitches[name]
    if (!mine || key === undefined || values.has(key)) return undefined
    if (name in globalSwitches || name in tokenSwitches) {
      if (eq >= 0) return undefined
      values.set(key, true)
      continue
    }
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined || value.startsWith("-")) return undefined
    values.set(key, value)
  }
  if (command !== "token") return undefined
  const text = (key: string) => {
    const v = values.get(key)
    return typeof v === "string" ? v : undefined
  }
  const identities = ["clientId", "objectId", "miResId"].filter((k) => values.has(k))
  if (identities.length > 1 || (values.has("resource") && values.has("scope"))) return undefined
  const timeoutText = text("timeout")
  const timeout = timeoutText === undefined ? undefined : positiveSeconds(timeoutText)
  if (timeoutText !== undefined && timeout === undefined) return undefined
  return {
    globals: {
      imdsEndpoint: text("imdsEndpoint"),
      armEndpoint: text("armEndpoint"),
      output: text("output"),
      query: text("query"),
      timeout,
      cache: values.has("cache"),
    },
    flags: {
      resource: text("resource"),
      scope: text("scope"),
      decode: values.has("decode"),
      clientId: text("clientId"),
      objectId: text("objectId"),
      miResId: text("miResId"),
    },
  }
}

/**
 * Answers `argv` from the token cache when it can (see the module comment): prints the result, sets
 * the exit code and resolves `true`. Resolves `false`, having printed nothing, when the full command
 * must run. Never throws.
 */
export const tokenFromCache = async (argv: ReadonlyArray<string>, shell: Shell): Promise<boolean> => {
  try {
    const line = parseTokenLine(argv)
    if (line === undefined || !cacheWanted(line.globals, shell.env)) return false
    if ((shell.env.AZMI_CA_CERT_FILE ?? "").trim() !== "") return false
    const format = line.globals.output ?? defaultOutput(shell.env)
    if (!isOutputFormat(format)) return false
    const inputs = optionsInputsKey(
      layerOptions(line.globals, selectorOf(line.flags, plainSelectors)),
      shell.env,
    )
    const file = await readCacheFile(defaultPath(shell.env), bounded())
    const entry = lookup(file, { inputs, resource: tokenTarget(line.flags, shell.env), now: Date.now() })
    if (entry === undefined) return false
    const result = tokenResult(entry, line.flags)
    if (result === undefined) return false
    const { query } = line.globals
    if (query !== undefined) (await import("./render/query.js")).checkQuery(query)
    const printed = await render(result, { format, query, color: colorAllowed(shell) })
    if (printed !== "") shell.stdout.write(printed)
    shell.setExitCode(ExitCode.Ok)
    await checkOutput({ deps: shell, globals: {} }, ExitCode.Ok)
    return true
  } catch {
    return false
  }
}
