/**
 * Directories a simulated host has and the SDKs insist on — Arc's key directory `/var/opt/azcmagent/tokens`,
 * AKS's `/var/run/secrets/azure/wi/token` — made inside `run`'s private mount namespace, never on the machine
 * (as root or not, nothing is written to the machine's `/var`):
 *
 * - the directory exists on the machine: a fresh tmpfs is mounted over it (what the machine keeps there, such as
 *   a real Arc agent's keys, is hidden from COMMAND);
 * - it does not: its deepest existing ancestor is mirrored — a tmpfs holding every entry of the ancestor
 *   bind-mounted back (directories recursively, so mounts below them stay), plus the missing directories — and
 *   that tmpfs is moved over the ancestor. Everything that was there stays as it is, writes to it still reach
 *   the machine; only new top-level entries of the ancestor live in the namespace alone.
 *
 * The plan is a pure function of what the machine has (`privateDirectorySteps`); `makePrivateDirectory` reads
 * the machine and carries it out.
 * @module
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs"
import { mkdir, symlink, writeFile } from "node:fs/promises"
import { dirname, join, relative, sep } from "node:path"

/** One step of making a private directory; `mount` steps are `mount`'s arguments. */
export type PrivateDirectoryStep =
  | { readonly op: "mkdir"; readonly path: string }
  | { readonly op: "file"; readonly path: string }
  | { readonly op: "symlink"; readonly path: string; readonly target: string }
  | { readonly op: "mount"; readonly args: ReadonlyArray<string> }

/** One entry of the ancestor to mirror. */
export interface MirroredEntry {
  readonly name: string
  readonly kind: "directory" | "symlink" | "other"
  /** A symlink's target, as it is written. */
  readonly link?: string
}

/** What the machine has at the target's place. */
export interface MachineView {
  /** The target, or its deepest existing ancestor — a real path (symlinks resolved: `/var/run` is `/run`). */
  readonly existing: string
  /** The target's path components below `existing` (none when the target exists). */
  readonly missing: ReadonlyArray<string>
  /** `existing`'s permission bits, kept by the tmpfs that replaces it. */
  readonly mode: number
  /** `existing`'s entries (only read when something is missing). */
  readonly entries: ReadonlyArray<MirroredEntry>
}

/** The directory cannot be made without touching the machine: the VM is not built (exit 1). */
export class PrivateDirectoryError extends Error {
  override readonly name = "PrivateDirectoryError"
}

const tmpfs = (mode: number, at: string): PrivateDirectoryStep => ({
  op: "mount",
  // -n: no entry in the userspace mount table (/run/mount/utab), which is the machine's file.
  args: ["-n", "-t", "tmpfs", "-o", `mode=${mode.toString(8).padStart(4, "0")}`, "tmpfs", at],
})

/**
 * The steps that make the target exist in the namespace; `staging` is an empty directory of `run`'s own where
 * the mirror is built before it is moved over the ancestor (it is empty again afterwards).
 *
 * @example
 * ```ts
 * privateDirectorySteps({ existing: "/var/opt", missing: ["azcmagent", "tokens"], mode: 0o755, entries: [] }, "/tmp/azmi-run-x/private-0")
 * // mount tmpfs on the staging directory, mkdir azcmagent and azcmagent/tokens in it, mount --move it to /var/opt
 * ```
 */
export const privateDirectorySteps = (
  view: MachineView,
  staging: string,
): ReadonlyArray<PrivateDirectoryStep> => {
  if (view.missing.length === 0) return [tmpfs(view.mode, view.existing)]
  if (view.existing === "/") {
    throw new PrivateDirectoryError(
      `cannot make /${view.missing.join("/")} in the namespace: nothing of it exists on this machine, and / itself cannot be mirrored`,
    )
  }
  const steps: Array<PrivateDirectoryStep> = [tmpfs(view.mode, staging)]
  // What was missing when looked for is the namespace's own even if the machine makes it meanwhile (another
  // emulator creating Arc's directory): bound back, it would lead the new directories onto the machine.
  for (const entry of view.entries.filter((e) => e.name !== view.missing[0])) {
    const source = join(view.existing, entry.name)
    const at = join(staging, entry.name)
    if (entry.kind === "symlink") steps.push({ op: "symlink", path: at, target: entry.link ?? "" })
    else if (entry.kind === "directory") {
      steps.push({ op: "mkdir", path: at }, { op: "mount", args: ["-n", "--rbind", source, at] })
    } else steps.push({ op: "file", path: at }, { op: "mount", args: ["-n", "--bind", source, at] })
  }
  for (let i = 1; i <= view.missing.length; i++) {
    steps.push({ op: "mkdir", path: join(staging, ...view.missing.slice(0, i)) })
  }
  steps.push({ op: "mount", args: ["-n", "--move", staging, view.existing] })
  return steps
}

/** Reads what the machine has at `target`'s place (as seen from the namespace). */
export const readMachineView = (target: string): MachineView => {
  let existing = target
  while (!exists(existing)) existing = dirname(existing)
  const missing = relative(existing, target)
    .split(sep)
    .filter((c) => c !== "")
  const real = realpathSync(existing)
  const entries: Array<MirroredEntry> =
    missing.length === 0
      ? []
      : readdirSync(real, { withFileTypes: true }).map((d) => {
          if (d.isSymbolicLink()) {
            return { name: d.name, kind: "symlink", link: readlinkSync(join(real, d.name)) }
          }
          return { name: d.name, kind: d.isDirectory() ? "directory" : "other" }
        })
  return { existing: real, missing, mode: statSync(real).mode & 0o7777, entries }
}

const exists = (path: string): boolean => {
  try {
    statSync(path)
    return true
  } catch {
    // A dangling symlink is there (and cannot be mirrored through): treat it as existing, so it is reported.
    try {
      lstatSync(path)
      return true
    } catch {
      return false
    }
  }
}

/**
 * Makes `target` exist, private to the namespace; `mount` runs the `mount` tool with the given arguments.
 * @throws PrivateDirectoryError when it cannot be made (the reason and the way around it named)
 */
export const makePrivateDirectory = async (
  target: string,
  staging: string,
  mount: (args: ReadonlyArray<string>) => Promise<unknown>,
): Promise<void> => {
  let steps: ReadonlyArray<PrivateDirectoryStep>
  try {
    steps = privateDirectorySteps(readMachineView(target), staging)
    await mkdir(staging, { mode: 0o755 })
    for (const step of steps) {
      if (step.op === "mount") await mount(step.args)
      else if (step.op === "mkdir") await mkdir(step.path, { mode: 0o755 })
      else if (step.op === "file") await writeFile(step.path, "", { mode: 0o644 })
      else await symlink(step.target, step.path)
    }
  } catch (error) {
    if (error instanceof PrivateDirectoryError) throw error
    throw new PrivateDirectoryError(
      `cannot make ${target} in the namespace: ${error instanceof Error ? error.message : String(error)}. Creating it on the machine once (e.g. sudo mkdir -p ${target}) lets run mount a private tmpfs over it instead.`,
    )
  }
}

/**
 * The mount points at or below `dir`, from `/proc/self/mountinfo`'s text (its 5th field, with the kernel's
 * octal escapes undone): removing `dir` recursively while one exists would reach through it into the machine.
 *
 * @example
 * ```ts
 * mountPointsUnder("/tmp/azmi-run-x", readFileSync("/proc/self/mountinfo", "utf8")) // [] once nothing is mounted there
 * ```
 */
export const mountPointsUnder = (dir: string, mountinfo: string): ReadonlyArray<string> =>
  mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) =>
      p.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))),
    )
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
