import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startEmulator } from "../src/index.js"
import {
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_VM_PRINCIPAL_ID,
  defaultWorld,
  type World,
} from "../src/world/model.js"
import { parseWorld, WorldValidationError } from "../src/world/validate.js"
import { appServiceAndCluster, WORKLOAD_APP_ID, workloadApp } from "./world-fixtures.js"

const SUB = DEFAULT_SUBSCRIPTION_ID
const APP = WORKLOAD_APP_ID
const base = (): World => ({
  ...defaultWorld(),
  servicePrincipals: [...defaultWorld().servicePrincipals, workloadApp()],
  hosts: appServiceAndCluster("DevTest"),
})

const issues = (w: unknown): ReadonlyArray<string> => {
  try {
    parseWorld(w)
    return []
  } catch (e) {
    if (e instanceof WorldValidationError) return e.issues
    throw e
  }
}

describe("world: hosts and federated identity credentials", () => {
  it("a world with hosts, an app without a secret and federated credentials is valid and round-trips", () => {
    expect(parseWorld(base())).toEqual(base())
  })

  it("each rule names the field", () => {
    const w = base()
    const [app, aks] = [w.hosts?.[0], w.hosts?.[1]]
    const bad = {
      ...w,
      servicePrincipals: [
        ...defaultWorld().servicePrincipals,
        {
          displayName: "workload",
          clientId: APP,
          objectId: "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
          federatedIdentityCredentials: [
            { name: "x", issuer: "http://insecure/", subject: "s", audiences: ["a", "b"] },
            { name: "dup-name", issuer: "https://i/", subject: "s", audiences: ["a"] },
            { name: "DUP-NAME", issuer: "https://i/", subject: "s2", audiences: ["a"] },
          ],
        },
      ],
      hosts: [
        { ...app, kind: "mainframe", oidcIssuerId: "c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f" },
        { ...app, name: "web2", oidcIssuerId: "c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f" },
        {
          ...aks,
          serviceAccount: {
            namespace: "default",
            name: "sa",
            clientId: "f6a7b8c9-d0e1-4f2a-9b3c-5d6e7f8091a2",
          },
        },
        {
          ...app,
          name: "web3",
          systemAssigned: {
            principalId: DEFAULT_VM_PRINCIPAL_ID,
            clientId: "a8b9c0d1-e2f3-4a4b-9c5d-7e8f9001a2c4",
          },
        },
        {
          ...aks,
          name: "cluster2",
          serviceAccount: { namespace: "Default", name: "sa", clientId: APP },
        },
      ],
    }
    const found = issues(bad)
    for (const expected of [
      "world.servicePrincipals[1].federatedIdentityCredentials[0].name: must be 3..120 letters, digits, - and _",
      'world.servicePrincipals[1].federatedIdentityCredentials[0].issuer: must be an https URL (got "http://insecure/")',
      "world.servicePrincipals[1].federatedIdentityCredentials[0].audiences: must hold exactly one non-empty audience (Entra's limit)",
      'world.servicePrincipals[1].federatedIdentityCredentials[2].name: duplicate federated credential name "DUP-NAME"',
      'world.hosts[0].kind: must be one of app-service, arc, service-fabric, cloud-shell, azure-ml, aks (got "mainframe")',
      'world.hosts[1].oidcIssuerId: only an "aks" host has oidcIssuerId',
      "world.hosts[3].systemAssigned.principalId: duplicate principal/object id",
      'world.hosts[4].serviceAccount.namespace: must be a Kubernetes name (DNS-1123 label) (got "Default")',
      'world.hosts[2].serviceAccount.clientId: "f6a7b8c9-d0e1-4f2a-9b3c-5d6e7f8091a2" is not the client id of a service principal in world.servicePrincipals',
    ]) {
      expect(
        found.some((i) => i.startsWith(expected)),
        `${expected}\n in ${found.join("\n")}`,
      ).toBe(true)
    }
  })

  it("a role assignment may name a host's identity", () => {
    const w = base()
    const principalId = w.hosts?.[0]?.systemAssigned?.principalId ?? ""
    const withRole = {
      ...w,
      roleAssignments: [
        ...w.roleAssignments,
        {
          name: "f7a8b9c0-d1e2-4f3a-8b4c-6d7e8f9001b3",
          scope: `/subscriptions/${SUB}`,
          roleDefinitionId:
            "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
          principalId,
          principalType: "ServicePrincipal",
        },
      ],
    }
    expect(issues(withRole)).toEqual([])
  })
})

describe("--state keeps the host a --source added", () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azmi-hosts-state-"))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it("the host is written to the state file and served again (same identity) after a restart", async () => {
    const state = join(dir, "state.json")
    const first = await startEmulator({ source: "azure-ml", state })
    const identity = first.host
    await first.close()
    const saved = JSON.parse(await readFile(state, "utf8")) as World
    expect(saved.hosts?.map((h) => `${h.kind}/${h.name}`)).toEqual(["azure-ml/myMlCompute"])
    const second = await startEmulator({ source: "azure-ml", state })
    expect(second.host).toEqual(identity)
    await second.close()
  })
})
