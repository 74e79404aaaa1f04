/**
 * The real services behind `azmi`: the core's `Azmi.layer` (IMDS, ARM, the HTTP stack). The biggest
 * chunk of the bundle, so it is loaded only when a command needs it.
 * @module
 */
import { Azmi } from "@azmi/core"

export const makeLiveLayer = (options: Azmi.AzmiOptions) => Azmi.layer(options)
