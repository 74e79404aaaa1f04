/**
 * The AADSTS70021 hint's commands run as printed: a POSIX shell hands `az` exactly the token's issuer,
 * subject and audience, whatever characters they hold (a property, against `sh` itself).
 */
import { execFileSync } from "node:child_process"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { appCommand, credentialNameFor, identityCommand } from "../src/internal/federatedCredentialCommand.js"

const CLIENT = "a6e35b7f-9c0e-4f1a-8b3c-4d5e6f7a8b3e"

/** The arguments `az` receives when `sh` runs `command` (`az identity list` answers "looked-up"). */
const argumentsOf = (command: string): Array<string> => {
  const script = `az() { if [ "$1" = identity ] && [ "$2" = list ]; then printf looked-up; else printf '%s\\0' "$@"; fi; }\n${command}`
  const out = execFileSync("sh", ["-c", script], { encoding: "utf8" })
  return out.split("\0").slice(0, -1)
}

// Any text a claim could hold, but no NUL (a shell argument cannot carry one).
const claimText = fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\0"))

describe("the commands of the AADSTS70021 hint", () => {
  it("credential names follow Entra's rules (3–120 of letters, digits, - and _, starting with one of the first two)", () => {
    expect(credentialNameFor("system:serviceaccount:payments:api")).toBe("kubernetes-payments-api")
    expect(credentialNameFor("repo:org/app:ref:refs/heads/main")).toBe(
      "federated-repo-org-app-ref-refs-heads-main",
    )
    fc.assert(
      fc.property(claimText, (subject) => {
        expect(credentialNameFor(subject)).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$/)
      }),
    )
  })

  it("sh hands az exactly the issuer, subject and audience (any characters)", () => {
    fc.assert(
      fc.property(claimText, claimText, claimText, (issuer, subject, audience) => {
        const facts = { clientId: CLIENT, issuer, subject, audience }
        expect(argumentsOf(identityCommand(facts))).toEqual([
          "identity",
          "federated-credential",
          "create",
          "--name",
          credentialNameFor(subject),
          "--identity-name",
          "looked-up",
          "--resource-group",
          "looked-up",
          "--issuer",
          issuer,
          "--subject",
          subject,
          "--audience",
          audience,
        ])
        const app = argumentsOf(appCommand(facts))
        expect(app.slice(0, 6)).toEqual(["ad", "app", "federated-credential", "create", "--id", CLIENT])
        expect(app[6]).toBe("--parameters")
        expect(JSON.parse(app[7] ?? "")).toEqual({
          name: credentialNameFor(subject),
          issuer,
          subject,
          audiences: [audience],
        })
      }),
      { numRuns: 150 },
    )
  })
})
