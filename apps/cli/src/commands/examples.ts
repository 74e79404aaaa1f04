/**
 * Examples shown at the end of `--help`, per command path: help that teaches the common uses.
 * @module
 */
import type { Command } from "commander"

const SUB = "98f51385-2edc-4b79-bed9-7718de4cb861"

const examples: Record<string, ReadonlyArray<readonly [string, string]>> = {
  "": [
    ["azmi doctor", "check IMDS, the identity, a token and read access, with the fix for what fails"],
    ["azmi token --decode", "the managed identity's token claims (aud, oid, exp)"],
    ["azmi group show", "the VM's own resource group"],
    ["azmi emulator", "a local IMDS + ARM to try all of this without Azure"],
  ],
  token: [
    ["azmi token", "a token for https://management.azure.com/"],
    ["azmi token --scope https://vault.azure.net/.default", "a token for Key Vault"],
    ["azmi token --client-id <guid> --decode", "a user-assigned identity's claims"],
    ["azmi token --cache --query accessToken -o tsv", "the bare token, shared with other azmi processes"],
  ],
  "group show": [
    ["azmi group show", "the VM's own resource group"],
    [`azmi group show -g DevTest --subscription ${SUB} -o table`, "a named group as a table"],
  ],
  "group exists": [["azmi group exists -g DevTest", "prints true or false"]],
  "group list": [
    ["azmi group list --tag env=dev --query '[].name' -o tsv", "names of the groups tagged env=dev"],
  ],
  "role assignment create": [
    [
      `azmi role assignment create --assignee-object-id <oid> --role Reader --scope /subscriptions/${SUB}/resourceGroups/DevTest`,
      "grant the VM's identity Reader on a group (run as an Owner: AZURE_TENANT_ID/CLIENT_ID/CLIENT_SECRET)",
    ],
  ],
  "role assignment list": [
    ["azmi role assignment list --assignee-object-id <oid> -o table", "what the identity has been granted"],
  ],
  "role assignment delete": [
    ["azmi role assignment delete --assignee-object-id <oid> --role Reader --scope <scope>", "revoke it"],
  ],
  instance: [["azmi instance --query '{vm: name, group: resourceGroupName}'", "the VM's name and group"]],
  doctor: [["azmi doctor -o json", "the checks as data"]],
  emulator: [
    ["azmi emulator --state ./world.json", "an emulator that keeps its role assignments across restarts"],
  ],
}

const pathOf = (cmd: Command): string => {
  const names: Array<string> = []
  for (let c: Command | null = cmd; c?.parent != null; c = c.parent) names.unshift(c.name())
  return names.join(" ")
}

/** Adds an "Examples:" block to every command of `program` that has examples. */
export const addExamples = (program: Command): void => {
  const visit = (cmd: Command) => {
    const list = examples[pathOf(cmd)]
    if (list !== undefined) {
      const width = Math.max(...list.map(([c]) => c.length))
      const lines = list.map(([c, what]) =>
        c.length > 60 ? `  $ ${c}\n      ${what}` : `  $ ${c.padEnd(Math.min(width, 60))}  # ${what}`,
      )
      cmd.addHelpText("after", `\nExamples:\n${lines.join("\n")}`)
    }
    for (const sub of cmd.commands) visit(sub)
  }
  visit(program)
}
