/**
 * Found by the secrets suite: ARM (and the emulator) send `createdOn` / `updatedOn` as `null` for some
 * role assignments; listing them must not fail with MalformedResponse.
 */
import { RoleAssignment } from "@azmi/core"
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"

describe("RoleAssignment decoding", () => {
  it("accepts null createdOn / updatedOn, as ARM sends them for some assignments", () => {
    const decoded = Schema.decodeUnknownEither(RoleAssignment)({
      id: "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest/providers/Microsoft.Authorization/roleAssignments/3f2e1d0c-9b8a-4776-8554-433221100ffe",
      name: "3f2e1d0c-9b8a-4776-8554-433221100ffe",
      type: "Microsoft.Authorization/roleAssignments",
      properties: {
        roleDefinitionId:
          "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
        principalId: "5a8f3c2e-1b7d-4e9a-9c3f-2d6b8e4a1f07",
        principalType: "ServicePrincipal",
        scope: "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest",
        condition: null,
        createdOn: null,
        updatedOn: null,
        createdBy: null,
        description: null,
      },
    })
    expect(Either.isRight(decoded)).toBe(true)
  })
})
