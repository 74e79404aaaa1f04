/**
 * Azure Arc's challenge secrets: for each unauthenticated token request HIMDS writes a fresh random secret
 * to `<dir>/<random>.key` and names that file in `WWW-Authenticate: Basic realm=…`; the client proves it may
 * read the directory by sending the content back as `Authorization: Basic <secret>`.
 *
 * Every SDK insists on the directory (`/var/opt/azcmagent/tokens` on Linux: MSAL Node compares the whole
 * path, MSAL Python rebuilds it from the file's stem), so the emulator must write exactly there; if it cannot,
 * start-up fails with {@link HostSetupError} naming the directory and why.
 */
import { randomBytes } from "node:crypto"
import { mkdir, open, unlink } from "node:fs/promises"
import { join } from "node:path"
import { HostSetupError } from "./host.js"

/** Where HIMDS writes its key files on Linux, and the only place the SDKs read them from. */
export const ARC_TOKENS_DIRECTORY = "/var/opt/azcmagent/tokens"

/** The SDKs refuse key files larger than this. */
export const ARC_SECRET_MAX_BYTES = 4096

/** Secrets a client may still present; the oldest are forgotten (and their files deleted) beyond this. */
const OUTSTANDING = 32

const writeSecretFile = async (path: string, secret: string): Promise<void> => {
  // Exclusive create with mode 0600; no trailing newline (MSAL Node sends the content untrimmed).
  const handle = await open(path, "wx", 0o600)
  try {
    await handle.writeFile(secret, "utf8")
  } finally {
    await handle.close()
  }
}

export class ArcSecrets {
  private readonly outstanding = new Map<string, string>()
  private closed = false

  private constructor(readonly directory: string) {}

  /**
   * Creates the directory if needed and proves a secret file can be written there.
   * @throws HostSetupError naming the directory and the reason when it cannot be written
   */
  static async open(directory: string = ARC_TOKENS_DIRECTORY): Promise<ArcSecrets> {
    const probe = join(directory, `.azmi-emulator-probe-${randomBytes(8).toString("hex")}.key`)
    try {
      await mkdir(directory, { recursive: true, mode: 0o755 })
      await writeSecretFile(probe, "probe")
      await unlink(probe)
    } catch (e) {
      const err = e as NodeJS.ErrnoException
      throw new HostSetupError(
        `--source arc: cannot write Azure Arc's secret files to ${directory} (${err.code ?? "error"}: ${err.message}). The SDKs read the challenge file only from that directory; run the emulator as a user that may create and write it (e.g. root).`,
      )
    }
    return new ArcSecrets(directory)
  }

  /** Writes a fresh secret file and returns its path (for `WWW-Authenticate: Basic realm=<path>`). */
  async challenge(): Promise<string> {
    const secret = randomBytes(32).toString("hex")
    const path = join(this.directory, `${randomBytes(16).toString("hex")}.key`)
    await writeSecretFile(path, secret)
    this.outstanding.set(secret, path)
    while (this.outstanding.size > OUTSTANDING) {
      const [oldest, oldPath] = this.outstanding.entries().next().value as [string, string]
      this.outstanding.delete(oldest)
      await unlink(oldPath).catch(() => undefined)
    }
    if (this.closed) await this.close()
    return path
  }

  /** True when `secret` is the content of a file this emulator wrote and still honours. */
  accepts(secret: string): boolean {
    return this.outstanding.has(secret)
  }

  /** Deletes every secret file still on disk. */
  async close(): Promise<void> {
    this.closed = true
    const paths = [...this.outstanding.values()]
    this.outstanding.clear()
    await Promise.all(paths.map((p) => unlink(p).catch(() => undefined)))
  }
}
