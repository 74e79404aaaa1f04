/**
 * TLS material for the ARM/login server: a throwaway CA and a server certificate for 127.0.0.1, ::1 and
 * localhost signed by it. The CA PEM goes to a temp file so clients can trust it (`NODE_EXTRA_CA_CERTS`).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { generate } from "selfsigned"

export interface TlsMaterial {
  readonly caCert: string
  readonly caCertPath: string
  readonly key: string
  readonly cert: string
  /** Removes the CA file; idempotent. */
  readonly dispose: () => Promise<void>
}

export const createTls = async (hostnames: ReadonlyArray<string> = []): Promise<TlsMaterial> => {
  const notBeforeDate = new Date(Date.now() - 60 * 60 * 1000)
  const notAfterDate = new Date(Date.now() + 365 * 24 * 60 * 60 * 1000)
  const ca = await generate([{ name: "commonName", value: "azmi emulator CA" }], {
    keySize: 2048,
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  })
  const extraNames = [...new Set(hostnames)].filter((h) => !["127.0.0.1", "::1", "localhost"].includes(h))
  const server = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keySize: 2048,
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
          ...extraNames.map((h) =>
            /^[\d.]+$|:/.test(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h },
          ),
        ],
      },
    ],
  })
  const dir = await mkdtemp(join(tmpdir(), "azmi-emulator-"))
  const caCertPath = join(dir, "ca.pem")
  await writeFile(caCertPath, ca.cert, { mode: 0o644 })
  let disposed = false
  return {
    caCert: ca.cert,
    caCertPath,
    key: server.private,
    cert: server.cert,
    dispose: async () => {
      if (disposed) return
      disposed = true
      await rm(dir, { recursive: true, force: true })
    },
  }
}
