/** The `-o` formats (kept apart from the renderers so the parser does not load them). */
export const outputFormats = ["json", "jsonc", "table", "tsv", "yaml", "none"] as const
export type OutputFormat = (typeof outputFormats)[number]
