import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  DEFAULT_ADMIN_SECRET,
  DEFAULT_RESOURCE_GROUP,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_TENANT_ID,
  DEFAULT_VM_PRINCIPAL_ID,
  defaultWorld,
  READER_ROLE_ID,
  roleDefinitionResourceId,
} from "../src/world/model.js"
import { parseWorld, readWorldFile, WorldValidationError } from "../src/world/validate.js"

type Mutable = Record<string, unknown> & {
  [K in
    | "tenants"
    | "subscriptions"
    | "resourceGroups"
    | "vms"
    | "servicePrincipals"
    | "roleAssignments"]: Array<Record<string, unknown>>
} & {
  userAssignedIdentities?: Array<Record<string, unknown>>
  roleDefinitions?: Array<Record<string, unknown>>
}

/** A mutable deep copy of the default world to break in one place. */
const base = (): Mutable => structuredClone(defaultWorld()) as unknown as Mutable

const issuesOf = (json: unknown): ReadonlyArray<string> => {
  try {
    parseWorld(json)
  } catch (e) {
    if (e instanceof WorldValidationError) return e.issues
    throw e
  }
  return []
}

const uamiId = (name: string) =>
  `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/${DEFAULT_RESOURCE_GROUP}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${name}`

describe("parseWorld accepts", () => {
  it("the default world unchanged", () => {
    expect(parseWorld(defaultWorld())).toEqual(defaultWorld())
  })

  it("a world without the optional arrays, filling them in", () => {
    const w = base()
    delete w.userAssignedIdentities
    delete w.roleDefinitions
    const { roleAssignments: _dropped, ...rest } = w
    const parsed = parseWorld(rest)
    expect(parsed.userAssignedIdentities).toEqual([])
    expect(parsed.roleAssignments).toEqual([])
  })

  it("a VM with user-assigned identities, a custom role and an assignment to a UAMI", () => {
    const w = base()
    w.userAssignedIdentities = [
      {
        name: "id-one",
        subscriptionId: DEFAULT_SUBSCRIPTION_ID,
        resourceGroup: "devtest",
        principalId: "11111111-1111-4111-8111-111111111111",
        clientId: "22222222-2222-4222-8222-222222222222",
      },
    ]
    ;(w.vms[0] as Record<string, unknown>).userAssigned = [
      uamiId("ID-ONE").replace("resourceGroups", "resourcegroups"),
    ]
    w.roleDefinitions = [
      {
        name: "33333333-3333-4333-8333-333333333333",
        roleName: "Group Reader",
        permissions: [{ actions: ["Microsoft.Resources/subscriptions/resourceGroups/read"] }],
      },
    ]
    w.roleAssignments.push({
      name: "44444444-4444-4444-8444-444444444444",
      scope: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourcegroups/devtest`,
      roleDefinitionId: `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/33333333-3333-4333-8333-333333333333`,
      principalId: "11111111-1111-4111-8111-111111111111",
      principalType: "ServicePrincipal",
    })
    const parsed = parseWorld(w)
    expect(parsed.roleDefinitions?.[0]?.roleType).toBe("CustomRole")
    expect(parsed.vms[0]?.userAssigned).toHaveLength(1)
  })

  it("returns a copy that does not share objects with the input", () => {
    const w = base()
    const parsed = parseWorld(w)
    ;(w.resourceGroups[0] as Record<string, unknown>).name = "Changed"
    expect(parsed.resourceGroups[0]?.name).toBe(DEFAULT_RESOURCE_GROUP)
  })
})

describe("parseWorld rejects, naming the field and the rule", () => {
  const cases: Array<[string, (w: Mutable) => unknown, string]> = [
    ["a non-object", () => [], "world: must be an object (got an array)"],
    ["an unknown root field", (w) => ({ ...w, resourcegroups: [] }), "world.resourcegroups: unknown field"],
    ["a missing tenants array", (w) => ({ ...w, tenants: undefined }), "world.tenants: must be an array"],
    ["no tenants", (w) => ({ ...w, tenants: [] }), "world.tenants: must contain at least one tenant"],
    [
      "no subscriptions",
      (w) => ({ ...w, subscriptions: [] }),
      "world.subscriptions: must contain at least one subscription",
    ],
    ["no VMs", (w) => ({ ...w, vms: [] }), "world.vms: must contain at least one VM"],
    [
      "a bad tenant GUID",
      (w) => {
        w.tenants[0]!.tenantId = "not-a-guid"
      },
      'world.tenants[0].tenantId: must be a GUID like 00000000-0000-0000-0000-000000000000 (got "not-a-guid")',
    ],
    [
      "a subscription in an unknown tenant",
      (w) => {
        w.subscriptions[0]!.tenantId = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
      },
      'world.subscriptions[0].tenantId: tenant "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa" is not in world.tenants',
    ],
    [
      "a bad subscription state",
      (w) => {
        w.subscriptions[0]!.state = "On"
      },
      "world.subscriptions[0].state: must be one of Enabled",
    ],
    [
      "an empty location",
      (w) => {
        w.resourceGroups[0]!.location = ""
      },
      'world.resourceGroups[0].location: must be a region name like "westus" (got "")',
    ],
    [
      "a group name with a slash",
      (w) => {
        w.resourceGroups[0]!.name = "a/b"
      },
      "world.resourceGroups[0].name: must be 1..90 letters",
    ],
    [
      "a group name ending in a period",
      (w) => {
        w.resourceGroups[0]!.name = "rg."
      },
      "world.resourceGroups[0].name: must not end with a period",
    ],
    [
      "a group name over 90 characters",
      (w) => {
        w.resourceGroups[0]!.name = "a".repeat(91)
      },
      "world.resourceGroups[0].name: must be 1..90",
    ],
    [
      "a non-string tag value",
      (w) => {
        w.resourceGroups[0]!.tags = { env: 1 }
      },
      'world.resourceGroups[0].tags["env"]: tag values must be strings',
    ],
    [
      "duplicate group names (case-insensitive)",
      (w) => {
        w.resourceGroups.push({ ...w.resourceGroups[0]!, name: "DEVTEST" })
      },
      'world.resourceGroups[1].name: duplicate resource group name "DEVTEST" (already used at world.resourceGroups[0].name)',
    ],
    [
      "a group in an unknown subscription",
      (w) => {
        w.resourceGroups[0]!.subscriptionId = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
      },
      "world.resourceGroups[0].subscriptionId: subscription",
    ],
    [
      "a VM in an unknown group",
      (w) => {
        w.vms[0]!.resourceGroup = "Nowhere"
      },
      'world.vms[0].resourceGroup: resource group "Nowhere" is not in world.resourceGroups',
    ],
    [
      "a VM with a bad osType",
      (w) => {
        w.vms[0]!.osType = "BeOS"
      },
      'world.vms[0].osType: must be "Linux" or "Windows"',
    ],
    [
      "a VM with a bad system identity",
      (w) => {
        w.vms[0]!.systemAssigned = { principalId: "x", clientId: "y" }
      },
      "world.vms[0].systemAssigned.principalId: must be a GUID",
    ],
    [
      "a VM referring to a missing UAMI",
      (w) => {
        w.vms[0]!.userAssigned = [uamiId("ghost")]
      },
      "world.vms[0].userAssigned[0]:",
    ],
    [
      "a VM with a bad MAC",
      (w) => {
        ;(w.vms[0]!.network as Record<string, unknown>).macAddress = "zz"
      },
      "world.vms[0].network.macAddress: must be 12 hex digits",
    ],
    [
      "a typo inside a VM",
      (w) => {
        w.vms[0]!.sytemAssigned = null
      },
      "world.vms[0].sytemAssigned: unknown field",
    ],
    [
      "a service principal with a short secret",
      (w) => {
        w.servicePrincipals[0]!.secret = "short"
      },
      "world.servicePrincipals[0].secret: must be a string of at least 8 characters",
    ],
    [
      "duplicate client ids",
      (w) => {
        w.servicePrincipals.push({
          ...w.servicePrincipals[0]!,
          objectId: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
        })
      },
      "world.servicePrincipals[1].clientId: duplicate client id",
    ],
    [
      "a principal id reused as an object id",
      (w) => {
        w.servicePrincipals[0]!.objectId = DEFAULT_VM_PRINCIPAL_ID
      },
      "world.servicePrincipals[0].objectId: duplicate principal/object id",
    ],
    [
      "an assignment to an unknown principal",
      (w) => {
        w.roleAssignments[0]!.principalId = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
      },
      'world.roleAssignments[0].principalId: principal "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa" is not a VM identity',
    ],
    [
      "an assignment to an unknown role",
      (w) => {
        w.roleAssignments[0]!.roleDefinitionId = roleDefinitionResourceId(
          "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
        )
      },
      "world.roleAssignments[0].roleDefinitionId: role definition",
    ],
    [
      "an assignment at an unknown group",
      (w) => {
        w.roleAssignments[0]!.scope = `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/Nope`
      },
      'world.roleAssignments[0].scope: resource group "Nope" is not in world.resourceGroups',
    ],
    [
      "an assignment with a malformed scope",
      (w) => {
        w.roleAssignments[0]!.scope = "/tenants/x"
      },
      "world.roleAssignments[0].scope: must be a scope like",
    ],
    [
      "an assignment with a bad principal type",
      (w) => {
        w.roleAssignments[0]!.principalType = "Robot"
      },
      "world.roleAssignments[0].principalType: must be one of User",
    ],
    [
      "duplicate assignment names",
      (w) => {
        w.roleAssignments.push({ ...w.roleAssignments[0]! })
      },
      "world.roleAssignments[1].name: duplicate role assignment name",
    ],
    [
      "a custom role shadowing a built-in",
      (w) => {
        w.roleDefinitions = [
          { name: READER_ROLE_ID, roleName: "Mine", permissions: [{ actions: ["*/read"] }] },
        ]
      },
      "world.roleDefinitions[0].name: duplicate role definition name",
    ],
    [
      "a custom role named like a built-in",
      (w) => {
        w.roleDefinitions = [
          {
            name: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            roleName: "reader",
            permissions: [{ actions: ["*/read"] }],
          },
        ]
      },
      'world.roleDefinitions[0].roleName: duplicate roleName "reader"',
    ],
    [
      "a custom role without permissions",
      (w) => {
        w.roleDefinitions = [
          { name: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", roleName: "Empty", permissions: [] },
        ]
      },
      "world.roleDefinitions[0].permissions: must not be empty",
    ],
  ]

  it.each(cases)("%s", (_name, breakIt, expected) => {
    const w = base()
    const replaced = breakIt(w)
    const issues = issuesOf(replaced === undefined ? w : replaced)
    expect(issues.some((i) => i.startsWith(expected))).toBe(true)
  })

  it("reports every problem at once and never echoes a secret", () => {
    const w = base()
    w.tenants[0]!.tenantId = "bad"
    w.resourceGroups[0]!.location = 42
    w.servicePrincipals[0]!.secret = 1234
    let error: unknown
    try {
      parseWorld(w)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(WorldValidationError)
    const e = error as WorldValidationError
    expect(e.issues.length).toBeGreaterThanOrEqual(3)
    expect(e.message).toContain("world.tenants[0].tenantId")
    expect(e.message).toContain("world.resourceGroups[0].location")
    expect(e.message).not.toContain(DEFAULT_ADMIN_SECRET)
  })
})

describe("readWorldFile", () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "azmi-world-"))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it("reads a valid file", async () => {
    const path = join(dir, "ok.json")
    await writeFile(path, JSON.stringify(defaultWorld()))
    expect((await readWorldFile(path)).tenants[0]?.tenantId).toBe(DEFAULT_TENANT_ID)
  })

  it("names the file when it is not JSON", async () => {
    const path = join(dir, "bad.json")
    await writeFile(path, "{ nope")
    await expect(readWorldFile(path)).rejects.toThrow(`Invalid world file ${path}:\nworld: not valid JSON`)
  })

  it("names the file when it is missing", async () => {
    await expect(readWorldFile(join(dir, "missing.json"))).rejects.toThrow("cannot read the file (ENOENT)")
  })

  it("names the file and the field when a rule is broken", async () => {
    const path = join(dir, "rule.json")
    const w = base()
    w.vms[0]!.vmId = "x"
    await writeFile(path, JSON.stringify(w))
    await expect(readWorldFile(path)).rejects.toThrow(
      `Invalid world file ${path}:\nworld.vms[0].vmId: must be a GUID`,
    )
  })
})
