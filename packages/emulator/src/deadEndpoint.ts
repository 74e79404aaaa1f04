/**
 * A dead endpoint on loopback: a TCP port where a connection is never made, as at an IMDS address
 * whose packets are dropped (a laptop, a container, a VM without IMDS). Its listener never accepts:
 * it listens with a backlog of one from a thread that then blocks, its queue is filled, and the
 * kernel drops every further SYN — so a client's connect hangs until its own timeout, exactly as it
 * would at 169.254.169.254 off Azure, without dialling anything but 127.0.0.1.
 * @module
 */
import { connect, type Socket } from "node:net"
import { Worker } from "node:worker_threads"

/** A dead endpoint (see the module comment). */
export interface DeadEndpoint {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly port: number
  /** Wakes the listener's thread, closes its socket and the connections that fill its queue. */
  readonly close: () => Promise<void>
}

// The listener's thread: listen, report the port, then block (no event loop turn, so no accept())
// until woken through the shared buffer.
const listenerThread = `
const { parentPort, workerData } = require("node:worker_threads")
const { createServer } = require("node:net")
const server = createServer()
server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  parentPort.postMessage(server.address().port)
  Atomics.wait(new Int32Array(workerData), 0, 0)
  server.close()
  parentPort.close()
})
`

/** Connections that fill the listener's accept queue; opened until one of them no longer connects. */
const fillQueue = async (port: number): Promise<Array<Socket>> => {
  const sockets: Array<Socket> = []
  for (let i = 0; i < 8; i++) {
    const socket = connect({ port, host: "127.0.0.1" })
    socket.on("error", () => {})
    sockets.push(socket)
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1_000)
      socket.once("connect", () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    if (!connected) return sockets
  }
  for (const socket of sockets) socket.destroy()
  throw new Error(
    "the listener kept accepting connections: this kernel does not drop them when its queue is full",
  )
}

/**
 * Starts a {@link DeadEndpoint}.
 *
 * @example
 * ```ts
 * const dead = await startDeadEndpoint()
 * // AZMI_IMDS_ENDPOINT=dead.url: azmi's connect timeout decides how long a token request waits
 * await dead.close()
 * ```
 */
export const startDeadEndpoint = async (): Promise<DeadEndpoint> => {
  const wake = new SharedArrayBuffer(4)
  const worker = new Worker(listenerThread, { eval: true, workerData: wake })
  const port = await new Promise<number>((resolve, reject) => {
    worker.once("message", resolve)
    worker.once("error", reject)
  })
  const close = async () => {
    for (const socket of sockets) socket.destroy()
    Atomics.store(new Int32Array(wake), 0, 1)
    Atomics.notify(new Int32Array(wake), 0)
    await worker.terminate()
  }
  let sockets: Array<Socket> = []
  try {
    sockets = await fillQueue(port)
  } catch (error) {
    await close()
    throw error
  }
  return { url: `http://127.0.0.1:${port}`, port, close }
}
