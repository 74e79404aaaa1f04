/**
 * azmi-http as an AKS pod's workload-identity proxy (issue 16): in a pod the upstream the core detects is
 * workload identity, so the unmodified IMDS clients that reach azmi-http's IMDS front end
 * (AZMI_HTTP_IMDS=1) get the workload's tokens — the seed's `curl`, @azure/identity through
 * AZURE_POD_IDENTITY_AUTHORITY_HOST — many clients, one token request at Entra; and Entra's refusal of
 * the federated token reaches them as an IMDS-shaped error (Entra's refusal passed on as IMDS's 401),
 * never a 500, never the federated token.
 *
 * The emulator runs in this process as the pod's cluster and Entra (`source: "workload-identity"`: its
 * `env` is what the webhook sets, and its world is the test's); azmi-http is the built bin, a child
 * started with that env.
 */
import { readFileSync } from "node:fs"
import { type Emulator, startEmulator } from "@azmi/emulator"
import { decodeJwt } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  azureIdentityTokensThrough,
  type HttpChild,
  runClient as run,
  seedCurlThrough,
  startHttp,
} from "./http-support.js"
import { withFederatedCredentials } from "./workload-support.js"

let emu: Emulator
let http: HttpChild

beforeAll(async () => {
  emu = await startEmulator({ source: "workload-identity" })
  http = await startHttp(emu, { ...emu.env, AZMI_HTTP_IMDS: "1" })
})

afterAll(async () => {
  await http?.stop()
  await emu?.close()
})

/** Token requests Entra has answered for the workload (the federated token exchanged for an access token). */
const tokenRequests = () =>
  emu.requests.count({ target: "login", method: "POST", pathIncludes: "/oauth2/v2.0/token" })

const tokenUrl = (resource: string) =>
  `${http.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent(resource)}`

/** The workload identity: its app's client id, and the object id of its service principal. */
const workload = () => ({ appid: emu.host.clientId, oid: emu.host.principalId })

describe("IMDS clients in an AKS pod, through azmi-http, get the workload identity's tokens", () => {
  it("the seed's curl, character for character but for the address: IMDS's answer, a token of the federated app", async () => {
    const before = tokenRequests()
    const body = await seedCurlThrough(http.url)
    expect(body.client_id).toBe(emu.env.AZURE_CLIENT_ID)
    expect(decodeJwt(body.access_token as string)).toMatchObject(workload())
    // The same curl again is answered from azmi-http's cache.
    await seedCurlThrough(http.url)
    expect(tokenRequests() - before).toBe(1)
  })

  it("forty clients at once (raw IMDS requests): one token request at Entra, one token for all", async () => {
    const before = tokenRequests()
    const answers = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await fetch(tokenUrl("https://storage.azure.com/"), { headers: { Metadata: "true" } })
        return { status: res.status, body: (await res.json()) as { access_token: string } }
      }),
    )
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200))
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1)
    expect(decodeJwt(answers[0]?.body.access_token ?? "")).toMatchObject(workload())
    expect(tokenRequests() - before).toBe(1)
  })

  it("eight azure-identity (Python) processes at once through AZURE_POD_IDENTITY_AUTHORITY_HOST: one token request at Entra", async () => {
    const before = tokenRequests()
    const script = [
      "from azure.identity import ManagedIdentityCredential",
      'print(ManagedIdentityCredential().get_token("https://servicebus.azure.net/.default").token)',
    ].join("\n")
    const tokens = await Promise.all(
      Array.from({ length: 8 }, () =>
        // Debian's Python: the pyenv python3 on PATH lacks Debian's packages.
        run("/usr/bin/python3", ["-c", script], { AZURE_POD_IDENTITY_AUTHORITY_HOST: http.url }),
      ),
    )
    expect(new Set(tokens.map((t) => t.trim())).size).toBe(1)
    expect(decodeJwt((tokens[0] ?? "").trim())).toMatchObject(workload())
    expect(tokenRequests() - before).toBe(1)
  })

  it("fifty @azure/identity ManagedIdentityCredentials through AZURE_POD_IDENTITY_AUTHORITY_HOST: one token request at Entra", async () => {
    const before = tokenRequests()
    const tokens = await azureIdentityTokensThrough(http.url, 50)
    expect(tokens).toHaveLength(1)
    expect(decodeJwt(tokens[0] as string)).toMatchObject(workload())
    expect(tokenRequests() - before).toBe(1)
  })
})

describe("Entra refusing the workload's federated token, as IMDS clients see it", () => {
  const withCredentials = <A>(
    credentials: Parameters<typeof withFederatedCredentials>[1],
    body: () => Promise<A>,
  ) => withFederatedCredentials(emu, credentials, body)

  // Entra's refusal passed on as IMDS passes on Entra's refusals (401: IMDS clients fail at once
  // instead of retrying a refusal that cannot change), in IMDS's error shape, in azmi's words (the
  // AADSTS code, the identity, issuer, subject and audience to federate).
  it("no federated credential for the pod's service account (AADSTS70021): 401 in IMDS's shape naming what to federate, to every waiting client, after one request at Entra", async () => {
    const before = tokenRequests()
    const answers = await withCredentials([], () =>
      Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await fetch(tokenUrl("https://graph.microsoft.com/"), { headers: { Metadata: "true" } })
          return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() }
        }),
      ),
    )
    expect(tokenRequests() - before).toBe(1)
    const federated = readFileSync(emu.env.AZURE_FEDERATED_TOKEN_FILE ?? "", "utf8").trim()
    for (const answer of answers) {
      expect(answer.status).toBe(401)
      expect(answer.contentType).toBe("application/json; charset=utf-8")
      const body = JSON.parse(answer.text) as Record<string, string>
      expect(Object.keys(body)).toEqual(["error", "error_description"])
      expect(body.error).toBe("unauthorized_client")
      expect(body.error_description).toBe(
        `The identity ${emu.env.AZURE_CLIENT_ID} has no federated credential for issuer ${emu.host.oidcIssuer}, subject system:serviceaccount:default:workload-identity-sa and audience api://AzureADTokenExchange (AADSTS70021).`,
      )
      expect(answer.text).not.toContain(federated.split(".")[2] ?? federated)
    }
    // A refusal is not cached: once the credential is back, the next request gets a token.
    const again = await fetch(tokenUrl("https://graph.microsoft.com/"), { headers: { Metadata: "true" } })
    expect(again.status).toBe(200)
    expect(decodeJwt(((await again.json()) as { access_token: string }).access_token)).toMatchObject(
      workload(),
    )
  })
})
