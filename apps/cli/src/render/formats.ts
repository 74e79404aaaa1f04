/** The `-o` formats (kept apart from the renderers so the parser does not load them). */
export const outputFormats = ["json", "jsonc", "table", "tsv", "yaml", "none"] as const
export type OutputFormat = (typeof outputFormats)[number]

/** True for one of {@link outputFormats}. */
export const isOutputFormat = (s: string | undefined): s is OutputFormat =>
  s !== undefined && (outputFormats as ReadonlyArray<string>).includes(s)

/** The format without `-o`: `AZMI_OUTPUT` when it names one, else JSON. */
export const defaultOutput = (env: Readonly<Record<string, string | undefined>>): OutputFormat =>
  isOutputFormat(env.AZMI_OUTPUT) ? env.AZMI_OUTPUT : "json"
