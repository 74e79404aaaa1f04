/** A positive number of seconds as typed (`--timeout 2.5`); `undefined` when it is not one. */
export const positiveSeconds = (raw: string): number | undefined => {
  const n = Number(raw)
  return Number.isFinite(n) && n > 0 ? n : undefined
}
