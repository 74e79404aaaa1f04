/** `azmi instance`: the VM's compute metadata. */
import { InstanceMetadata } from "@azmi/core"
import { Effect } from "effect"
import type { CommandContext } from "../context.js"
import { run } from "../runner.js"

export const instance = (ctx: CommandContext) =>
  run(
    ctx,
    Effect.flatMap(InstanceMetadata, (m) => m.compute),
  )
