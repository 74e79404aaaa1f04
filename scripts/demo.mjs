#!/usr/bin/env node
// `npm run demo`: the seed quickstart ("Use a Linux VM system-assigned managed identity to access Azure
// Resource Manager") end to end against the local emulator, with plain HTTP calls only. It talks to nothing
// but the emulator on 127.0.0.1, and closes it before exiting. (The CLI team will replace this with a
// CLI-driven version.)
import { randomUUID } from "node:crypto"
import http from "node:http"
import https from "node:https"
import { startEmulator } from "@azmi/emulator"

const RESOURCE_GROUP = "DevTest"
const READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[22m` : s)

/** One HTTP(S) request to the emulator; refuses any host but loopback. */
const request = (url, { method = "GET", headers = {}, body, ca } = {}) => {
  const u = new URL(url)
  if (u.hostname !== "127.0.0.1" && u.hostname !== "localhost" && u.hostname !== "[::1]") {
    throw new Error(`demo: refusing to contact ${u.host}: only the local emulator is allowed`)
  }
  const lib = u.protocol === "https:" ? https : http
  return new Promise((resolve, reject) => {
    const req = lib.request(
      u,
      { method, headers: { ...headers, ...(body && { "content-length": Buffer.byteLength(body) }) }, ca },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (d) => {
          text += d
        })
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) }))
      },
    )
    req.setTimeout(10_000, () => req.destroy(new Error(`demo: ${method} ${u.pathname} timed out`)))
    req.on("error", reject)
    req.end(body)
  })
}

/** Tokens are secrets even in a demo: show their shape, never their value. */
const redact = (token) => `${token.slice(0, 8)}… (${token.length} characters, redacted)`

let step = 0
const title = (text) => console.log(`\n${bold(`Step ${++step}. ${text}`)}`)
const show = (label, value) => console.log(`  ${label.padEnd(10)} ${value}`)
const expectStatus = (res, expected, what) => {
  if (res.status !== expected)
    throw new Error(`${what}: expected HTTP ${expected}, got ${res.status}: ${res.text}`)
}

const emu = await startEmulator()
let failed = false
try {
  const ca = emu.caCert || undefined
  console.log(
    bold("azmi demo: use a Linux VM system-assigned managed identity to access Azure Resource Manager"),
  )
  console.log("(every Azure endpoint below is the local emulator; nothing leaves this machine)")
  show("IMDS", emu.imdsUrl)
  show("ARM", emu.armUrl)
  show("VM", `${emu.vm.name} in ${emu.vm.resourceGroup} (principal ${emu.vm.systemAssigned?.principalId})`)

  title("Get an access token using the VM's system-assigned managed identity")
  const tokenUrl = `${emu.imdsUrl}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}`
  console.log(`  GET ${tokenUrl}\n      Metadata: true`)
  const tokenRes = await request(tokenUrl, { headers: { Metadata: "true" } })
  expectStatus(tokenRes, 200, "IMDS token")
  const token = tokenRes.json()
  show("→", `HTTP ${tokenRes.status}`)
  show("token", redact(token.access_token))
  show("resource", token.resource)
  show("expires_in", `${token.expires_in} s`)

  const groupUrl = `${emu.armUrl}/subscriptions/${emu.subscriptionId}/resourceGroups/${RESOURCE_GROUP}?api-version=2016-09-01`
  const readGroup = () =>
    request(groupUrl, { headers: { Authorization: `Bearer ${token.access_token}` }, ca })

  title("Use the token to call Resource Manager (no role assigned yet)")
  console.log(`  GET ${groupUrl}\n      Authorization: Bearer <token>`)
  const denied = await readGroup()
  expectStatus(denied, 403, "ARM read before the grant")
  const deniedError = denied.json().error
  show("→", `HTTP ${denied.status} ${deniedError.code}`)
  show("message", deniedError.message)

  title("Grant your VM access to a Resource Group in Azure Resource Manager (Reader on DevTest)")
  const loginUrl = `${emu.loginUrl}/${emu.admin.tenantId}/oauth2/v2.0/token`
  console.log(`  POST ${loginUrl}  (admin service principal ${emu.admin.clientId}, client credentials)`)
  const adminRes = await request(loginUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: emu.admin.clientId,
      client_secret: emu.admin.clientSecret,
      scope: "https://management.azure.com/.default",
    }).toString(),
    ca,
  })
  expectStatus(adminRes, 200, "admin token")
  const adminToken = adminRes.json().access_token
  show("→", `HTTP ${adminRes.status}, admin token ${redact(adminToken)}`)
  const scope = `/subscriptions/${emu.subscriptionId}/resourceGroups/${RESOURCE_GROUP}`
  const assignmentUrl = `${emu.armUrl}${scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=2022-04-01`
  console.log(`  PUT ${assignmentUrl}`)
  const grant = await request(assignmentUrl, {
    method: "PUT",
    headers: { Authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      properties: {
        roleDefinitionId: `/subscriptions/${emu.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
        principalId: emu.vm.systemAssigned?.principalId,
        principalType: "ServicePrincipal",
      },
    }),
    ca,
  })
  expectStatus(grant, 201, "role assignment")
  show(
    "→",
    `HTTP ${grant.status}: Reader for ${grant.json().properties.principalId} at ${grant.json().properties.scope}`,
  )

  title("Use the token to call Resource Manager again")
  console.log(`  GET ${groupUrl}\n      Authorization: Bearer <token>`)
  const allowed = await readGroup()
  expectStatus(allowed, 200, "ARM read after the grant")
  show("→", `HTTP ${allowed.status}`)
  console.log(`  ${allowed.text}`)

  console.log(
    `\n${bold("Done:")} token from IMDS → 403 → Reader granted → 200, all against the local emulator.`,
  )
} catch (e) {
  failed = true
  console.error(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}`)
} finally {
  await emu.close()
}
process.exitCode = failed ? 1 : 0
