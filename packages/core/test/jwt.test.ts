// The one reading of a JWT's parts (unverified): an object or nothing, never a throw.
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parseAssertion } from "../src/internal/federatedAssertion.js"
import { payloadOf } from "../src/internal/jwt.js"

const seg = (json: string) => Buffer.from(json, "utf8").toString("base64url")
const jwt = (header: string, payload: string) => `${seg(header)}.${seg(payload)}.c2ln`

describe("payloadOf", () => {
  it("the claims of a token whose payload is a JSON object", () => {
    expect(payloadOf(jwt('{"alg":"RS256"}', '{"oid":"x","n":1}'))).toEqual({ oid: "x", n: 1 })
  })

  it.each([
    ["no payload segment", "abc"],
    ["a payload that is not base64url JSON", "a.%%%.c"],
    ["a JSON array", jwt("{}", "[1]")],
    ["a JSON string", jwt("{}", '"oid"')],
    ["JSON null", jwt("{}", "null")],
  ])("%s: undefined", (_, token) => {
    expect(payloadOf(token)).toBeUndefined()
  })
})

describe("parseAssertion on malformed parts", () => {
  const claims = '{"iss":"https://i","sub":"s","aud":"a","exp":2000000000}'
  it("a header that is not a JSON object", () => {
    expect(parseAssertion(jwt("[]", claims))).toEqual(Either.left("its header is not a JSON object"))
  })
  it("a payload that is not a JSON object", () => {
    expect(parseAssertion(jwt("{}", "[]"))).toEqual(Either.left("its payload is not a JSON object"))
  })
  it("well-formed parts: the claims", () => {
    expect(Either.isRight(parseAssertion(jwt('{"alg":"RS256"}', claims)))).toBe(true)
  })
})
