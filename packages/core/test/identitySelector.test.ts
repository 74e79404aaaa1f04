import { describe, expect, it } from "vitest"
import { IdentitySelector, sameIdentity } from "../src/IdentitySelector.js"

const id = "0b8f3d7c-5c1e-4a0e-9c51-6b1f1c2f4a11"

describe("sameIdentity", () => {
  it("the same kind and id, whatever the case, is the same identity", () => {
    expect(
      sameIdentity(
        IdentitySelector.ClientId({ clientId: id }),
        IdentitySelector.ClientId({ clientId: id.toUpperCase() }),
      ),
    ).toBe(true)
    expect(sameIdentity(IdentitySelector.SystemAssigned(), IdentitySelector.SystemAssigned())).toBe(true)
  })
  it("another id, or the same id as another kind, is another identity", () => {
    expect(
      sameIdentity(
        IdentitySelector.ClientId({ clientId: id }),
        IdentitySelector.ClientId({ clientId: id.replace("0b", "1b") }),
      ),
    ).toBe(false)
    expect(
      sameIdentity(IdentitySelector.ClientId({ clientId: id }), IdentitySelector.ObjectId({ objectId: id })),
    ).toBe(false)
    expect(sameIdentity(IdentitySelector.ClientId({ clientId: id }), IdentitySelector.SystemAssigned())).toBe(
      false,
    )
  })
})
