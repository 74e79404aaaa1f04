/**
 * The one way azmi reads a setting, for the core, the CLI and azmi-http alike.
 *
 * A setting is declared once ({@link Setting}): the environment variable that holds it, the
 * command-line flag that stands for it in the shells, the option that sets it in code, and its rule.
 * It is read with Effect `Config` from one `ConfigProvider` ({@link sourceOf}): the values given in
 * code or on a command line over the environment — so a flag and its variable are one setting, read and
 * checked by one rule. An invalid value is an `InvalidConfiguration` that names what the user actually
 * set: the flag (`--imds-endpoint`), the option (`imdsEndpoint`), or the variable.
 *
 * A blank value (empty or only whitespace) counts as unset, wherever it comes from.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Settings } from "@azmi/core"
 *
 * const port: Settings.Setting<number> = {
 *   variable: "AZMI_HTTP_PORT",
 *   flag: "--port",
 *   rule: Settings.wholeNumber(0, 65_535),
 * }
 * const source = Settings.sourceOf(ConfigProvider.fromEnv(), Settings.givenFlags([port], { "--port": "8080" }))
 * Effect.runSync(Settings.readOr(port, 80, source)) // { value: 8080, setBy: "--port", from: "flag", … }
 * ```
 * @module
 */
import { Config, ConfigError, ConfigProvider, Effect, Either, Option, Redacted } from "effect"
import { InvalidConfiguration } from "./Errors.js"
import { parseWholeNumber } from "./ResourceGroups.js"

/** A setting's rule: the value a (non-blank) text stands for, or the reason it breaks the rule. */
export type Rule<A> = (text: string) => Either.Either<A, string>

/** One setting, declared once. */
export interface Setting<A> {
  /** The environment variable that holds it; also its key in the `ConfigProvider`. */
  readonly variable: string
  /** The command-line flag that stands for it, in every shell that offers one. */
  readonly flag?: string | undefined
  /** The option that sets it in code (a key of the options object the resolver is given). */
  readonly option?: string | undefined
  readonly rule: Rule<A>
}

/** Where a value came from: code, a command line, or the environment. */
export type Origin = "option" | "flag" | "environment"

/** A setting's value and who set it. */
export interface Read<A> {
  readonly value: A
  /** What the user set: the option, the flag, or the environment variable. */
  readonly setBy: string
  readonly from: Origin
  /** The setting's environment variable (what `setBy` stands for when it is a flag or option). */
  readonly variable: string
}

/** A value given in code or on a command line for the setting held by `variable`, under `name`. */
export interface Given {
  readonly variable: string
  readonly name: string
  readonly from: Exclude<Origin, "environment">
  readonly value: string
}

/** Where settings are read from: the given values over the environment, and who gave each. */
export interface Source {
  readonly provider: ConfigProvider.ConfigProvider
  readonly given: ReadonlyMap<string, Given>
}

/**
 * Values given in code or on a command line (the first one given for a variable wins: pass options
 * before flags) over `environment` — usually `ConfigProvider.fromEnv()`, or the current provider.
 */
export const sourceOf = (environment: ConfigProvider.ConfigProvider, given: Iterable<Given> = []): Source => {
  const byVariable = new Map<string, Given>()
  for (const g of given) if (!byVariable.has(g.variable)) byVariable.set(g.variable, g)
  const values = new Map([...byVariable].map(([variable, g]) => [variable, g.value]))
  return {
    provider: ConfigProvider.fromMap(values).pipe(ConfigProvider.orElse(() => environment)),
    given: byVariable,
  }
}

/**
 * The flags a shell parsed (keyed by flag name, `--port`; an absent or `undefined` value was not given),
 * as given values for the settings that declare those flags.
 */
export const givenFlags = (settings: Iterable<Setting<unknown>>, flags: object): Array<Given> => {
  const given: Array<Given> = []
  for (const s of settings) {
    const value = s.flag === undefined ? undefined : (flags as Record<string, unknown>)[s.flag]
    if (s.flag !== undefined && typeof value === "string") {
      given.push({ variable: s.variable, name: s.flag, from: "flag", value })
    }
  }
  return given
}

/** An option's value as the text its variable would hold (a secret is unwrapped; it stays in memory). */
const optionText = (value: unknown): string | undefined =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? String(Redacted.value(value)) : String(value)

/** The options set in code, as given values for the settings that declare those options. */
export const givenOptions = (settings: Iterable<Setting<unknown>>, options: object): Array<Given> => {
  const given: Array<Given> = []
  for (const s of settings) {
    if (s.option === undefined) continue
    const value = optionText((options as Record<string, unknown>)[s.option])
    if (value !== undefined) given.push({ variable: s.variable, name: s.option, from: "option", value })
  }
  return given
}

/**
 * The `InvalidConfiguration` for a value of `read`'s setting: it names what the user set, and the
 * variable a flag or option stands for.
 */
export const invalid = (read: Pick<Read<unknown>, "setBy" | "variable">, reason: string) =>
  new InvalidConfiguration({
    variable: read.setBy,
    reason,
    ...(read.setBy === read.variable ? {} : { standsFor: read.variable }),
  })

const nameOf = (variable: string, source: Source) => {
  const given = source.given.get(variable)
  return given === undefined
    ? { setBy: variable, from: "environment" as const, variable }
    : { setBy: given.name, from: given.from, variable }
}

const reasonOf = (error: ConfigError.ConfigError): string =>
  ConfigError.isInvalidData(error) ? error.message : String(error)

/** `setting` as an Effect `Config`: unset or blank is none, else the rule's value. */
const configOf = <A>(setting: Setting<A>): Config.Config<Option.Option<A>> =>
  Config.string(setting.variable).pipe(
    Config.option,
    Config.mapOrFail((text) =>
      Option.isNone(text) || text.value.trim() === ""
        ? Either.right(Option.none())
        : Either.match(setting.rule(text.value), {
            onLeft: (reason) => Either.left(ConfigError.InvalidData([], reason)),
            onRight: (value) => Either.right(Option.some(value)),
          }),
    ),
  )

/**
 * Reads `setting` from `source`: none when it is unset (or blank), else its value and who set it;
 * `InvalidConfiguration` naming the flag, option or variable when the value breaks the rule.
 */
export const read = <A>(
  setting: Setting<A>,
  source: Source,
): Effect.Effect<Option.Option<Read<A>>, InvalidConfiguration> => {
  const who = nameOf(setting.variable, source)
  return Effect.withConfigProvider(configOf(setting), source.provider).pipe(
    Effect.mapError((error) => invalid(who, reasonOf(error))),
    Effect.map(Option.map((value) => ({ value, ...who }))),
  )
}

/** {@link read} with a default for an unset setting (then `setBy` is `undefined`). */
export const readOr = <A>(
  setting: Setting<A>,
  fallback: A,
  source: Source,
): Effect.Effect<{ readonly value: A; readonly setBy: string | undefined }, InvalidConfiguration> =>
  Effect.map(
    read(setting, source),
    Option.getOrElse(() => ({ value: fallback, setBy: undefined })),
  )

/** Every setting of `settings` read from `source`, in order (the first invalid one fails). */
export const readAll = <S extends Readonly<Record<string, Setting<unknown>>>>(
  settings: S,
  source: Source,
): Effect.Effect<
  { readonly [K in keyof S]: Option.Option<Read<S[K] extends Setting<infer A> ? A : never>> },
  InvalidConfiguration
> =>
  Effect.all(
    Object.fromEntries(Object.entries(settings).map(([key, setting]) => [key, read(setting, source)])),
  ) as never

// ---------------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------------

/** Any text, as it is. */
export const text: Rule<string> = Either.right

/** A secret: any text, kept `Redacted`. */
export const secret: Rule<Redacted.Redacted<string>> = (s) => Either.right(Redacted.make(s))

/**
 * A whole number from `min` to `max`: ASCII digits only (surrounding whitespace forgiven — an env file's
 * stray space), no sign, exponent, fraction or hex (the core's `parseWholeNumber`).
 */
export const wholeNumber =
  (min: number, max: number, unit?: string): Rule<number> =>
  (s) => {
    const n = parseWholeNumber(s.trim())
    return n !== undefined && n >= min && n <= max
      ? Either.right(n)
      : Either.left(
          `must be a whole number${unit === undefined ? "" : ` of ${unit}`} from ${min} to ${max} (got ${JSON.stringify(s.slice(0, 40))})`,
        )
  }

/** A switch: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, in any case; anything else is refused. */
export const onOff: Rule<boolean> = (s) => {
  const value = s.trim().toLowerCase()
  if (["1", "true", "yes", "on"].includes(value)) return Either.right(true)
  if (["0", "false", "no", "off"].includes(value)) return Either.right(false)
  return Either.left(`must be 1/true/yes/on or 0/false/no/off (got ${JSON.stringify(s.slice(0, 40))})`)
}
