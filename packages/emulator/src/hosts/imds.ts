/**
 * The Azure VM: its identity is served by the emulator's IMDS (see `imds/`), so this host only names the
 * VM's identity; start-up adds the IMDS variables to the environment.
 */
import { resolveIdentity, vmIdentityHolder } from "../imds/identity.js"
import { vmResourceId } from "../world/model.js"
import type { HostModule } from "./host.js"

export const imds: HostModule = {
  source: "imds",
  needsTls: false,
  start: async (ctx) => {
    const vm = ctx.store.vms()[0]
    const resolved =
      vm === undefined ? undefined : resolveIdentity(ctx.store, vmIdentityHolder(vm), { kind: "none" })
    const identity = resolved?.ok === true ? resolved.identity : undefined
    return {
      env: {},
      identity: {
        source: "imds",
        name: vm?.name ?? "",
        resourceId: vm === undefined ? "" : vmResourceId(vm),
        principalId: identity?.principalId ?? "",
        clientId: identity?.clientId ?? "",
      },
      close: async () => {},
    }
  },
}
