/**
 * The README's promise — "On a real Azure VM with a managed identity, nothing needs configuring" — tested on a
 * simulated VM (`azmi-emulator run`), with COMMAND's environment built from nothing (PATH, HOME): the seed's own
 * curl commands, the official JS and Python SDKs, `azmi` and `azmi-http` find 169.254.169.254 and
 * management.azure.com by themselves. And with `--no-imds`, where nothing answers: `azmi token` gives up
 * quickly with exit 3.
 *
 * Every COMMAND starts behind `vm/guard.sh` (no way out of the namespace, checked inside before anything dials).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, defaultWorld } from "@azmi/emulator"
import { afterAll, expect, it } from "vitest"
import { fillSeedArmCurl, seedGroupResponse, seedTokenCurl } from "./seed-quickstart.mjs"
import {
  azmiBin,
  describeOnVm,
  fixture,
  httpMain,
  python,
  pythonSdkMissing,
  type TempHome,
  tempHome,
  vmRun,
} from "./vm/support.js"

const home: TempHome = tempHome()
afterAll(() => home.close())

const describeVm = await describeOnVm(home.dir, "the zero-configuration tests")

const vmPrincipal = defaultWorld().vms[0]?.systemAssigned?.principalId

describeVm("zero configuration on a simulated Azure VM", () => {
  it("the seed quickstart's two curl commands, verbatim, give its response", async () => {
    const script = [
      "set -e",
      `response=$(${seedTokenCurl} 2>/dev/null)`,
      `printf '%s' "$response" | node -p 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); [r.token_type, r.resource, r.access_token.split(".").length].join(" ")'`,
      `ACCESS_TOKEN=$(printf '%s' "$response" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')`,
      `${fillSeedArmCurl({ subscriptionId: DEFAULT_SUBSCRIPTION_ID, resourceGroup: DEFAULT_RESOURCE_GROUP, accessToken: "$ACCESS_TOKEN" })} 2>/dev/null`,
    ].join("\n")
    const r = await vmRun(["bash", "-c", script], { home: home.dir, runArgs: ["--world", home.grantedWorld] })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    const [tokenLine, groupLine] = r.stdout.split("\n")
    expect(tokenLine).toBe("Bearer https://management.azure.com/ 3")
    expect(JSON.parse(groupLine ?? "")).toMatchObject(seedGroupResponse)
  })

  it("@azure/identity + @azure/arm-resources: token, 403, the admin's grant through login.microsoftonline.com, then the group", async () => {
    const r = await vmRun(["node", fixture("sdk.mjs")], { home: home.dir })
    expect(r.stderr).toBe("")
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      oid: vmPrincipal,
      aud: "https://management.azure.com",
      before: "AuthorizationFailed",
      after: "DevTest",
      viaDefault: "DevTest",
    })
  })

  it("the Python SDK (Debian's python3-azure): ManagedIdentityCredential and DefaultAzureCredential read the group", async () => {
    const missing = pythonSdkMissing()
    if (missing !== undefined) throw new Error(missing)
    const r = await vmRun([python, fixture("sdk.py")], {
      home: home.dir,
      runArgs: ["--world", home.grantedWorld],
    })
    expect(r.code).toBe(0)
    const group = { oid: vmPrincipal, group: "DevTest", location: "westus" }
    expect(JSON.parse(r.stdout)).toEqual({ managedIdentity: group, default: group })
  })

  it("azmi doctor, azmi token and azmi group show", async () => {
    const out = (name: string) => join(home.dir, name)
    const script = [
      `node ${azmiBin} doctor > ${out("doctor.out")} 2>&1; echo $? > ${out("doctor.code")}`,
      `node ${azmiBin} token --decode --query claims.oid -o tsv > ${out("token.out")} 2>&1; echo $? > ${out("token.code")}`,
      `node ${azmiBin} group show > ${out("group.out")} 2>&1; echo $? > ${out("group.code")}`,
    ].join("\n")
    const r = await vmRun(["sh", "-c", script], { home: home.dir, runArgs: ["--world", home.grantedWorld] })
    expect(r.code).toBe(0)
    const read = (name: string) => readFileSync(out(name), "utf8")
    expect(read("doctor.code")).toBe("0\n")
    expect(read("doctor.out")).toContain("IMDS reachable: VM myVM in resource group DevTest")
    expect(read("doctor.out")).toContain("via IMDS at http://169.254.169.254")
    expect(read("doctor.out")).not.toContain("✖")
    expect([read("token.code"), read("token.out")]).toEqual(["0\n", `${vmPrincipal}\n`])
    expect(read("group.code")).toBe("0\n")
    expect(JSON.parse(read("group.out"))).toMatchObject({
      id: seedGroupResponse.id,
      name: "DevTest",
      location: "westus",
    })
  })

  it("azmi-http: the VM's own resource group and readiness", async () => {
    const script = [
      `node ${httpMain} > http.out 2>&1 &`,
      "for i in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:8080/readyz && break; sleep 0.1; done",
      "curl -sS -w '\\n%{http_code}\\n' http://127.0.0.1:8080/readyz",
      "curl -sS -w '\\n%{http_code}\\n' http://127.0.0.1:8080/v1/resourceGroup",
      "kill -TERM $!; wait $!",
    ].join("\n")
    const r = await vmRun(["sh", "-c", script], { home: home.dir, runArgs: ["--world", home.grantedWorld] })
    expect(r.code).toBe(0)
    const [, readyStatus, group, groupStatus] = r.stdout.trim().split("\n")
    expect(readyStatus).toBe("200")
    expect(groupStatus).toBe("200")
    expect(JSON.parse(group ?? "")).toMatchObject({ name: "DevTest", location: "westus" })
  })

  it("--no-imds: azmi token gives up with exit 3 (IMDS unavailable), without waiting for the kernel's connect timeout", async () => {
    const r = await vmRun(
      [
        "sh",
        "-c",
        `s=$(date +%s%N); node ${azmiBin} token; c=$?; echo "$(( ($(date +%s%N) - s) / 1000000 ))" >&2; exit $c`,
      ],
      {
        home: home.dir,
        runArgs: ["--no-imds"],
      },
    )
    expect(r.code).toBe(3)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/IMDS/)
    const ms = Number(r.stderr.trim().split("\n").at(-1))
    console.log(`azmi token with no IMDS gave up after ${ms} ms`)
    // Not a speed assertion: the kernel would wait about 2 minutes for an unanswered connect.
    expect(ms).toBeLessThan(20_000)
  })
})
