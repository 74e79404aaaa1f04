/**
 * What `azmi-emulator run` needs from the machine — Linux, util-linux's `unshare` and `mount`, iproute2's
 * `ip`, and the right to create namespaces (root, or unprivileged user namespaces) — found, probed, and
 * explained when missing.
 * @module
 */
import { execFile } from "node:child_process"
import { accessSync, constants, readFileSync } from "node:fs"
import { delimiter, join } from "node:path"

export interface Tools {
  readonly unshare: string
  readonly ip: string
  readonly mount: string
}

const PACKAGES: Record<keyof Tools, string> = {
  unshare: "util-linux",
  ip: "iproute2",
  mount: "util-linux; Debian: mount",
}

/** Where `ip` lives but a normal user's PATH often does not reach. */
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"]

/** A prerequisite is missing: exit 2 with this message. */
export class RunUnavailableError extends Error {
  override readonly name = "RunUnavailableError"
}

/** Network namespaces are Linux's. */
export const assertLinux = (): void => {
  if (process.platform !== "linux") {
    throw new RunUnavailableError(`needs Linux network namespaces (this is ${process.platform})`)
  }
}

const findExecutable = (name: string, path: string | undefined): string | undefined => {
  for (const dir of [...(path ?? "").split(delimiter).filter((d) => d !== ""), ...SBIN]) {
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** Absolute paths of the tools (so that COMMAND's PATH does not matter inside), or which are missing. */
export const findTools = (path: string | undefined): Tools => {
  const found: Partial<Record<keyof Tools, string>> = {}
  const missing: Array<string> = []
  for (const name of Object.keys(PACKAGES) as Array<keyof Tools>) {
    const at = findExecutable(name, path)
    if (at === undefined) missing.push(`\`${name}\` (${PACKAGES[name]})`)
    else found[name] = at
  }
  if (missing.length > 0) {
    throw new RunUnavailableError(
      `cannot build the simulated VM: ${missing.join(" and ")} not found on PATH or in ${SBIN.join(", ")}; install ${missing.length === 1 ? "it" : "them"} (e.g. apt-get install util-linux mount iproute2).`,
    )
  }
  return found as Tools
}

/**
 * The `unshare` flags for a new network, mount and PID namespace (`--fork`: COMMAND and everything it starts
 * are killed when the namespace's first process ends). As root no user namespace is needed; otherwise the caller
 * becomes root inside a user namespace of its own, with no more rights outside it than before.
 */
export const namespaceFlags = (asRoot: boolean): ReadonlyArray<string> => [
  ...(asRoot ? [] : ["--user", "--map-root-user"]),
  "--net",
  "--mount",
  "--propagation",
  "private",
  "--pid",
  "--fork",
]

/** How COMMAND runs as the caller's own uid/gid again, inside the user namespace (util-linux ≥ 2.38). */
export const mapBackArgs = (uid: number, gid: number): ReadonlyArray<string> => [
  "--user",
  `--map-user=${uid}`,
  `--map-group=${gid}`,
  "--",
]

export interface NamespacePlan {
  readonly flags: ReadonlyArray<string>
  /** Set when COMMAND runs as the caller's uid/gid through a nested user namespace. */
  readonly mapBack?: { readonly uid: number; readonly gid: number }
}

const probe = (unshare: string, args: ReadonlyArray<string>): Promise<string | undefined> =>
  new Promise((resolve) => {
    execFile(unshare, [...args], { timeout: 10_000 }, (error, _stdout, stderr) => {
      resolve(error === null ? undefined : stderr.trim() || error.message)
    })
  })

const sysctl = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8").trim()
  } catch {
    return undefined
  }
}

/** The kernel settings that decide whether a normal user may create user namespaces. */
export interface UserNamespaceSettings {
  /** `kernel.unprivileged_userns_clone` (Debian and older Ubuntu kernels only). */
  readonly unprivilegedUsernsClone?: string | undefined
  /** `user.max_user_namespaces`. */
  readonly maxUserNamespaces?: string | undefined
  /** `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10 and later). */
  readonly apparmorRestrict?: string | undefined
}

export const readUserNamespaceSettings = (): UserNamespaceSettings => ({
  unprivilegedUsernsClone: sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
  maxUserNamespaces: sysctl("/proc/sys/user/max_user_namespaces"),
  apparmorRestrict: sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
})

/**
 * Why no namespace could be made, and how to allow it: the message of exit 2.
 *
 * @example
 * ```ts
 * explainNoNamespaces({ root: false, settings: { maxUserNamespaces: "0" }, error: "unshare failed: Operation not permitted" })
 * // "… user namespaces are disabled (user.max_user_namespaces = 0) … sudo sysctl -w user.max_user_namespaces=15000 …"
 * ```
 */
export const explainNoNamespaces = (input: {
  readonly root: boolean
  readonly settings: UserNamespaceSettings
  readonly error: string
}): string => {
  const { settings } = input
  const reasons: Array<string> = []
  if (settings.unprivilegedUsernsClone === "0") {
    reasons.push(
      "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`",
    )
  }
  if (settings.maxUserNamespaces === "0") {
    reasons.push(
      "user namespaces are disabled (user.max_user_namespaces = 0); enable them with `sudo sysctl -w user.max_user_namespaces=15000`",
    )
  }
  if (settings.apparmorRestrict === "1") {
    reasons.push(
      "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1); allow them with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile that grants `userns` to node",
    )
  }
  if (reasons.length === 0) {
    reasons.push(
      input.root
        ? "root may not create namespaces here (in a container: it needs CAP_SYS_ADMIN, e.g. `docker run --privileged`, or a seccomp profile that allows unshare)"
        : "this user may not create user namespaces here (in a container: its seccomp profile must allow unshare/clone with CLONE_NEWUSER)",
    )
  }
  return `cannot create a private network namespace for the simulated VM: ${input.error}\n${reasons.map((r) => `  - ${r}`).join("\n")}\nRun as root, or where unprivileged user namespaces are allowed.`
}

/**
 * Finds how to make the namespaces here, by trying: as root plainly (else as in a user namespace, for a root
 * without CAP_SYS_ADMIN); as a normal user in a user namespace, running COMMAND as the caller's uid again when
 * util-linux can.
 */
export const planNamespaces = async (tools: Tools): Promise<NamespacePlan> => {
  const uid = process.getuid?.() ?? -1
  const gid = process.getgid?.() ?? -1
  const root = uid === 0
  let firstError: string | undefined
  for (const asRoot of root ? [true, false] : [false]) {
    const flags = namespaceFlags(asRoot)
    if (!root) {
      const error = await probe(tools.unshare, [
        ...flags,
        "--",
        tools.unshare,
        ...mapBackArgs(uid, gid),
        "true",
      ])
      if (error === undefined) return { flags, mapBack: { uid, gid } }
      firstError ??= error
    }
    const error = await probe(tools.unshare, [...flags, "--", "true"])
    if (error === undefined) return { flags }
    firstError ??= error
  }
  throw new RunUnavailableError(
    explainNoNamespaces({
      root,
      settings: readUserNamespaceSettings(),
      error: firstError ?? "unknown error",
    }),
  )
}

/**
 * Why `azmi-emulator run` cannot work on this machine (the message it would exit 2 with), or undefined when it
 * can — for scripts that fall back to something else (`npm run demo`).
 *
 * @example
 * ```ts
 * const why = await simulatedVmUnavailable()
 * if (why !== undefined) console.log(`no simulated VM here: ${why}`)
 * ```
 */
export const simulatedVmUnavailable = async (): Promise<string | undefined> => {
  try {
    assertLinux()
    await planNamespaces(findTools(process.env.PATH))
    return undefined
  } catch (error) {
    if (error instanceof RunUnavailableError) return error.message
    throw error
  }
}
