// A vitest setup file: FC_SEED=<integer> gives every fast-check property of the run that seed, to
// replay a failure (fast-check prints the seed of any failing run) or to run the suites with many
// chosen seeds. Unset, each property draws its own seed as usual.
import fc from "fast-check"

const raw = process.env.FC_SEED
if (raw !== undefined && raw !== "") {
  const seed = Number(raw)
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer (got ${JSON.stringify(raw)})`)
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed })
}
