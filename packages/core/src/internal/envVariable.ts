/**
 * How every environment variable azmi reads is read: through Effect `Config` (so tests and shells supply a
 * `ConfigProvider`), and a blank value — empty or only whitespace — counts as unset, everywhere (an
 * `IDENTITY_HEADER=` left over in a unit file must not select a host).
 * @internal
 */
import { Config, Option } from "effect"

/** The variable's value, or none when it is unset or blank. */
export const optionalVariable = (name: string): Config.Config<Option.Option<string>> =>
  Config.string(name).pipe(Config.option, Config.map(Option.filter((s) => s.trim() !== "")))
