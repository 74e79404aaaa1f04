#!/usr/bin/env node
// `npm run demo`: the seed quickstart ("Use a Linux VM system-assigned managed identity to access Azure
// Resource Manager") with the azmi CLI, against a local emulator this script starts and stops. Every step
// runs the built CLI (apps/cli/dist/azmi.mjs) as a child process, titled like the quickstart; nothing but
// the emulator on 127.0.0.1 is contacted. Exits non-zero if any step does not do what the quickstart says.
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { startEmulator } from "@azmi/emulator"

const azmiBin = join(dirname(fileURLToPath(import.meta.url)), "..", "apps", "cli", "dist", "azmi.mjs")
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[22m` : s)
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[22m` : s)

/** Runs `azmi <args>` (asynchronously: the emulator answers from this process) and echoes it like a terminal. */
const azmi = (args, env, { shown = args } = {}) =>
  new Promise((resolve, reject) => {
    console.log(`  $ azmi ${shown.join(" ")}`)
    const child = spawn(process.execPath, [azmiBin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.once("error", reject)
    child.once("close", (code) => {
      const indent = (text) => text.trimEnd().replace(/^/gm, "  ")
      if (stdout !== "") console.log(indent(stdout))
      if (stderr !== "") console.log(indent(stderr))
      console.log(dim(`  (exit ${code})`))
      resolve({ code, stdout, stderr })
    })
  })

let step = 0
const title = (text) => console.log(`\n${bold(`Step ${++step}. ${text}`)}`)
const check = (ok, what) => {
  if (!ok) throw new Error(what)
}

const emu = await startEmulator()
let failed = false
try {
  const principalId = emu.vm.systemAssigned?.principalId ?? ""
  const scope = `/subscriptions/${emu.subscriptionId}/resourceGroups/${emu.vm.resourceGroup}`
  // What `azmi emulator` prints: the VM's view of the world (IMDS, ARM, the emulator's CA).
  const vmEnv = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    AZMI_IMDS_ENDPOINT: emu.imdsUrl,
    AZMI_ARM_ENDPOINT: emu.armUrl,
    NODE_EXTRA_CA_CERTS: emu.caCertPath,
  }
  // The admin (Owner of the subscription) who grants access — for that one step only.
  const adminEnv = {
    ...vmEnv,
    AZURE_TENANT_ID: emu.admin.tenantId,
    AZURE_CLIENT_ID: emu.admin.clientId,
    AZURE_CLIENT_SECRET: emu.admin.clientSecret,
    AZURE_AUTHORITY_HOST: emu.loginUrl,
  }

  console.log(
    bold("azmi demo: use a Linux VM system-assigned managed identity to access Azure Resource Manager"),
  )
  console.log("(every Azure endpoint below is the local emulator; nothing leaves this machine)")
  console.log(`  export AZMI_IMDS_ENDPOINT=${emu.imdsUrl}`)
  console.log(`  export AZMI_ARM_ENDPOINT=${emu.armUrl}`)
  console.log(`  export NODE_EXTRA_CA_CERTS=${emu.caCertPath}`)

  title("Use the VM's identity to call Resource Manager (no access granted yet)")
  const denied = await azmi(["group", "show"], vmEnv)
  check(denied.code === 4, `expected exit 4 (authorization failed), got ${denied.code}`)
  check(
    /AuthorizationFailed|Authorization failed/.test(denied.stderr),
    "expected the AuthorizationFailed error",
  )
  check(/HINT: .*azmi role assignment create/.test(denied.stderr), "expected the hint with the grant command")

  title("Grant your VM access to a Resource Group in Azure Resource Manager")
  console.log(
    dim("  (as the admin service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,"),
  )
  console.log(dim(`   AZURE_AUTHORITY_HOST=${emu.loginUrl} set for this command only)`))
  const grant = await azmi(
    [
      "role",
      "assignment",
      "create",
      "--assignee-object-id",
      principalId,
      "--role",
      "Reader",
      "--scope",
      scope,
      "-o",
      "table",
    ],
    adminEnv,
  )
  check(grant.code === 0, `expected the role assignment to succeed, got exit ${grant.code}`)

  title("Get an access token using the VM's system-assigned managed identity")
  const query = "claims.{aud: aud, oid: oid, exp: exp}"
  const token = await azmi(["token", "--decode", "--query", query], vmEnv, {
    shown: ["token", "--decode", "--query", `'${query}'`],
  })
  check(token.code === 0, `expected a token, got exit ${token.code}`)
  check(JSON.parse(token.stdout).oid === principalId, "expected the token to be the VM identity's")

  title("Use the access token to call Resource Manager and read the Resource Group")
  // No names given: subscription and group default to the VM's own, read from instance metadata.
  const group = await azmi(["group", "show"], vmEnv)
  check(group.code === 0, `expected the group, got exit ${group.code}`)
  check(JSON.parse(group.stdout).name === emu.vm.resourceGroup, "expected the DevTest group")

  console.log(
    `\n${bold("Done:")} 403 with its fix → Reader granted → token → the resource group, all with azmi.`,
  )
} catch (e) {
  failed = true
  console.error(`\ndemo failed: ${e instanceof Error ? e.message : String(e)}`)
} finally {
  await emu.close()
}
process.exitCode = failed ? 1 : 0
