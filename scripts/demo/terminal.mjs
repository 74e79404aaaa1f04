// What the demo's steps share: titles, checks, and commands run as child processes and echoed like a
// terminal session (the command line, its output indented, its exit status).
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
export const azmiBin = join(root, "apps", "cli", "dist", "azmi.mjs")
export const emulatorBin = join(root, "packages", "emulator", "bin", "azmi-emulator.mjs")

export const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[22m` : s)
export const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[22m` : s)

let step = 0
export const part = (text) => {
  step = 0
  console.log(`\n${bold(text)}`)
}
export const title = (text) => console.log(`\n${bold(`Step ${++step}. ${text}`)}`)
export const check = (ok, what) => {
  if (!ok) throw new Error(what)
}

const indent = (text) => text.trimEnd().replace(/^/gm, "  ")

/**
 * Runs `file args` and echoes it as `$ shown`; `hide` rewrites the output before it is shown (a token stays
 * off the screen); stderr is shown unless `quietStderr`.
 */
export const sh = (file, args, { env = process.env, shown, hide = (s) => s, quietStderr = false } = {}) =>
  new Promise((resolve, reject) => {
    console.log(`  $ ${shown}`)
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] })
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
      if (stdout !== "") console.log(indent(hide(stdout)))
      if (stderr !== "" && (!quietStderr || code !== 0)) console.log(indent(stderr))
      console.log(dim(`  (exit ${code})`))
      resolve({ code, stdout, stderr })
    })
  })

/** `azmi <args>` (the built CLI), echoed like a terminal. */
export const azmi = (args, env, { shown = args } = {}) =>
  sh(process.execPath, [azmiBin, ...args], { env, shown: `azmi ${shown.join(" ")}` })
