/**
 * Quoting for the commands azmi's hints print: a word a POSIX shell reads back unchanged.
 * @internal
 */

/** `s` as is when it is plain, else single-quoted. */
export const shellWord = (s: string): string =>
  /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`
