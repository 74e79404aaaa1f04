/** `-o json`: indented JSON, like `az`. */
export const renderJson = (value: unknown): string =>
  value === undefined ? "" : `${JSON.stringify(value, null, 2)}\n`
