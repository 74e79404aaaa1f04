/** Option-value parsers shared by several commands (commander reports their errors as usage errors). */
import { InvalidArgumentError } from "commander"
import { positiveSeconds } from "../seconds.js"

/** A whole number ≥ 0. */
export const parseCount = (raw: string): number => {
  if (!/^\d+$/.test(raw)) throw new InvalidArgumentError("Not a whole number.")
  return Number(raw)
}

/** A positive number of seconds. */
export const parseSeconds = (raw: string): number => {
  const n = positiveSeconds(raw)
  if (n === undefined) throw new InvalidArgumentError("Not a positive number of seconds.")
  return n
}
