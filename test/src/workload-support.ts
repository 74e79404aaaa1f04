/**
 * The emulated AKS workload's app in Entra, for the suites that make Entra refuse its federated token.
 */
import type { Emulator } from "@azmi/emulator"

type FederatedCredentials = NonNullable<
  NonNullable<ReturnType<Emulator["world"]["findServicePrincipal"]>>["federatedIdentityCredentials"]
>

/**
 * Runs `body` with the workload app's (`AZURE_CLIENT_ID` of the emulator's env) federated credentials
 * replaced by `credentials`, then puts the original back, whatever `body` did.
 */
export const withFederatedCredentials = async <A>(
  emu: Emulator,
  credentials: FederatedCredentials,
  body: () => Promise<A>,
): Promise<A> => {
  const app = emu.world.findServicePrincipal(emu.env.AZURE_CLIENT_ID ?? "")
  if (app === undefined) throw new Error("no workload app")
  emu.world.putServicePrincipal({ ...app, federatedIdentityCredentials: credentials })
  try {
    return await body()
  } finally {
    emu.world.putServicePrincipal(app)
  }
}
