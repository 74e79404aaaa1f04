#!/usr/bin/env node
/**
 * `azmi-http`: reads the configuration, starts the server, prints one JSON line with its URL, and
 * shuts down gracefully on SIGTERM / SIGINT (stop accepting, finish in-flight requests, exit).
 * @module
 */
import { Either } from "effect"
import { version } from "./app.js"
import { commandOf, loadConfig, usage } from "./config.js"
import { startServer } from "./server.js"
import * as HttpServices from "./services/HttpServices.js"

// Whoever reads stderr may go away (a closed pipe); that must not take the server down with it.
process.stderr.on("error", () => {})

const fail = (message: string, code: number) => {
  process.stderr.write(`${JSON.stringify({ level: "error", msg: message })}\n`)
  process.exitCode = code
}

// A signal that arrives while the server is starting is kept and acted on once it has started: the
// default action would kill the process mid-start (exit 143) instead of shutting down cleanly.
let signalled: string | undefined
let onSignal = (signal: string) => {
  signalled ??= signal
}
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => onSignal(signal))

const main = async () => {
  const argv = process.argv.slice(2)
  const command = commandOf(argv)
  if (command === "help") return void process.stdout.write(usage)
  if (command === "version") return void process.stdout.write(`${version}\n`)
  const config = loadConfig(process.env, argv)
  if (Either.isLeft(config)) return fail(config.left.message, 2)
  // Nor may a stdout that refuses a write (a full disk, a file at its size limit, a closed pipe):
  // the access log counts what it drops, and the "listening" line below is not worth the server.
  process.stdout.on("error", () => {})
  let server: Awaited<ReturnType<typeof startServer>>
  try {
    server = await startServer({ config: config.right, layer: HttpServices.live(config.right) })
  } catch (error) {
    const message =
      typeof error === "object" && error !== null && "message" in error
        ? String(error.message)
        : String(error)
    return fail(`azmi-http could not start: ${message}`, 1)
  }
  // What neighbours are pointed at: the broker's IDENTITY_ENDPOINT, IMDS's AZURE_POD_IDENTITY_AUTHORITY_HOST.
  process.stdout.write(
    `${JSON.stringify({
      msg: "listening",
      url: server.url,
      broker: config.right.identityHeader !== undefined ? `${server.url}/msi/token` : null,
      imds: config.right.imds ? server.url : null,
      ...(server.healthUrl === undefined ? {} : { health: server.healthUrl }),
    })}\n`,
  )
  onSignal = (signal) => {
    process.stderr.write(`${JSON.stringify({ level: "info", msg: "shutting down", signal })}\n`)
    server.close().then(
      () => {
        process.exitCode = 0
      },
      (error) => fail(`shutdown failed: ${String(error)}`, 1),
    )
  }
  if (signalled !== undefined) onSignal(signalled)
}

void main()
