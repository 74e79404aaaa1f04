// One node child process for a bench module: its arguments, its whole environment (PATH is the caller's
// business), and what it printed. Resolves when it closes, whatever its exit code.
import { spawn } from "node:child_process"

/** Runs `node ...args` with `env`; resolves `{ code, stdout, stderr }`. */
export const runNode = (args, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.once("error", reject)
    child.once("close", (code) => resolve({ code, stdout, stderr }))
  })
