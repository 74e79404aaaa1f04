// One node child process for a bench module: its arguments, its whole environment (PATH is the caller's
// business), and what it printed. Resolves when it closes, whatever its exit code; a child still running
// after `timeoutMs` is killed and the bench fails saying so, rather than waiting for it forever.
import { spawn } from "node:child_process"
import { basename } from "node:path"

/** Runs `node ...args` with `env`; resolves `{ code, stdout, stderr }`, rejects if it outlives `timeoutMs`. */
export const runNode = (args, env, timeoutMs = 300_000) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, timeoutMs)
    child.stdout.on("data", (d) => {
      stdout += d
    })
    child.stderr.on("data", (d) => {
      stderr += d
    })
    child.once("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      if (timedOut)
        reject(
          new Error(
            `node ${basename(args[0] ?? "")} still running after ${timeoutMs / 1000} s, killed: ${stderr.trim().slice(-500)}`,
          ),
        )
      else resolve({ code, stdout, stderr })
    })
  })
