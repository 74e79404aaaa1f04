/**
 * A directory the simulated host must have (Arc's key directory, AKS's token directory), made in `run`'s mount
 * namespace without writing to the machine: a tmpfs over it when the machine has it; otherwise a mirror of its
 * deepest existing ancestor (every entry bind-mounted back) with the missing directories, moved over the
 * ancestor. And the check that keeps `run` from removing its own directory through a mount.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  mountPointsUnder,
  PrivateDirectoryError,
  privateDirectorySteps,
  readMachineView,
} from "../src/run/privateDirectory.js"

const staging = "/tmp/azmi-run-x/private-0"

describe("privateDirectorySteps", () => {
  it("the directory exists: a fresh tmpfs over it, with its mode", () => {
    expect(
      privateDirectorySteps(
        { existing: "/var/opt/azcmagent/tokens", missing: [], mode: 0o750, entries: [] },
        staging,
      ),
    ).toEqual([
      { op: "mount", args: ["-n", "-t", "tmpfs", "-o", "mode=0750", "tmpfs", "/var/opt/azcmagent/tokens"] },
    ])
  })

  it("it does not: the ancestor's entries bound back into a staging tmpfs, the missing directories made, the tmpfs moved over the ancestor", () => {
    expect(
      privateDirectorySteps(
        {
          existing: "/run",
          missing: ["secrets", "azure", "wi", "token"],
          mode: 0o755,
          entries: [
            { name: "user", kind: "directory" },
            { name: "shm", kind: "symlink", link: "/dev/shm" },
            { name: "utmp", kind: "other" },
          ],
        },
        staging,
      ),
    ).toEqual([
      { op: "mount", args: ["-n", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", staging] },
      { op: "mkdir", path: `${staging}/user` },
      { op: "mount", args: ["-n", "--rbind", "/run/user", `${staging}/user`] },
      { op: "symlink", path: `${staging}/shm`, target: "/dev/shm" },
      { op: "file", path: `${staging}/utmp` },
      { op: "mount", args: ["-n", "--bind", "/run/utmp", `${staging}/utmp`] },
      { op: "mkdir", path: `${staging}/secrets` },
      { op: "mkdir", path: `${staging}/secrets/azure` },
      { op: "mkdir", path: `${staging}/secrets/azure/wi` },
      { op: "mkdir", path: `${staging}/secrets/azure/wi/token` },
      { op: "mount", args: ["-n", "--move", staging, "/run"] },
    ])
  })

  it("an entry named like the first missing directory (made on the machine meanwhile) is not bound back", () => {
    const steps = privateDirectorySteps(
      {
        existing: "/var/opt",
        missing: ["azcmagent", "tokens"],
        mode: 0o755,
        entries: [
          { name: "azcmagent", kind: "directory" },
          { name: "other", kind: "directory" },
        ],
      },
      staging,
    )
    expect(steps.filter((s) => s.op === "mount" && s.args.includes("--rbind"))).toEqual([
      { op: "mount", args: ["-n", "--rbind", "/var/opt/other", `${staging}/other`] },
    ])
    expect(steps.filter((s) => s.op === "mkdir").map((s) => (s as { path: string }).path)).toEqual([
      `${staging}/other`,
      `${staging}/azcmagent`,
      `${staging}/azcmagent/tokens`,
    ])
  })

  it("never mirrors / (nothing of the path exists)", () => {
    expect(() =>
      privateDirectorySteps({ existing: "/", missing: ["var", "opt"], mode: 0o755, entries: [] }, staging),
    ).toThrow(PrivateDirectoryError)
  })
})

describe("readMachineView", () => {
  const root = mkdtempSync(join(tmpdir(), "azmi-private-dir-test-"))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, "var", "opt", "other"), { recursive: true })
  writeFileSync(join(root, "var", "opt", "file"), "")
  symlinkSync(join(root, "var"), join(root, "varlink"))
  symlinkSync("other", join(root, "var", "opt", "link"))

  it("the deepest existing ancestor (through symlinks), the missing components and the ancestor's entries", () => {
    const view = readMachineView(join(root, "varlink", "opt", "azcmagent", "tokens"))
    expect(view.existing).toBe(join(root, "var", "opt"))
    expect(view.missing).toEqual(["azcmagent", "tokens"])
    expect([...view.entries].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "file", kind: "other" },
      { name: "link", kind: "symlink", link: "other" },
      { name: "other", kind: "directory" },
    ])
  })

  it("an existing directory: nothing missing, no entries read", () => {
    const view = readMachineView(join(root, "var", "opt", "other"))
    expect(view).toMatchObject({ existing: join(root, "var", "opt", "other"), missing: [], entries: [] })
  })
})

describe("mountPointsUnder", () => {
  const mountinfo = [
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
    "66 22 254:0 /tmp/azmi-run-x/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw",
    "70 22 0:50 / /tmp/azmi-run-x/private-0 rw - tmpfs tmpfs rw",
    "71 70 254:0 /run/user /tmp/azmi-run-x/private-0/user rw - ext4 /dev/vda rw",
    "72 22 0:51 / /tmp/azmi-run-x\\040y rw - tmpfs tmpfs rw",
    "",
  ].join("\n")

  it("the mount points at or below the directory (escapes undone), and none for a sibling with a longer name", () => {
    expect(mountPointsUnder("/tmp/azmi-run-x", mountinfo)).toEqual([
      "/tmp/azmi-run-x/private-0",
      "/tmp/azmi-run-x/private-0/user",
    ])
    expect(mountPointsUnder("/tmp/azmi-run-x y", mountinfo)).toEqual(["/tmp/azmi-run-x y"])
    expect(mountPointsUnder("/tmp/azmi-run-z", mountinfo)).toEqual([])
  })
})
