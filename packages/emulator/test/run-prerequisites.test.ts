/**
 * What `azmi-emulator run` needs from the machine, and what it says when something is missing.
 */
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  explainNoNamespaces,
  findTools,
  namespaceFlags,
  RunUnavailableError,
} from "../src/run/prerequisites.js"

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "azmi-prereq-"))
  for (const name of ["unshare", "mount"]) {
    await writeFile(join(dir, name), "#!/bin/sh\nexit 0\n")
    await chmod(join(dir, name), 0o755)
  }
  await writeFile(join(dir, "ip"), "not executable")
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe("prerequisites", () => {
  it("tools are found on PATH first", () => {
    const tools = findTools(dir)
    expect(tools.unshare).toBe(join(dir, "unshare"))
    expect(tools.mount).toBe(join(dir, "mount"))
  })

  it("a missing tool is named with its package", () => {
    const empty = join(dir, "nothing-here")
    let error: unknown
    try {
      findTools(`${empty}:/nonexistent`)
    } catch (e) {
      error = e
    }
    // `ip` may still be found in the sbin directories searched after PATH; unshare lives in /usr/bin.
    expect(error).toBeInstanceOf(RunUnavailableError)
    expect((error as Error).message).toMatch(/`unshare` \(util-linux\)/)
    expect((error as Error).message).toMatch(/apt-get install/)
  })

  it("namespaces: network, mount (private) and PID with a fork; a user namespace unless root", () => {
    expect(namespaceFlags(true)).toEqual(["--net", "--mount", "--propagation", "private", "--pid", "--fork"])
    expect(namespaceFlags(false)).toEqual([
      "--user",
      "--map-root-user",
      "--net",
      "--mount",
      "--propagation",
      "private",
      "--pid",
      "--fork",
    ])
  })

  it.each([
    [
      { unprivilegedUsernsClone: "0" },
      /kernel\.unprivileged_userns_clone = 0.*sysctl -w kernel\.unprivileged_userns_clone=1/,
    ],
    [{ maxUserNamespaces: "0" }, /user\.max_user_namespaces = 0.*sysctl -w user\.max_user_namespaces=15000/],
    [
      { apparmorRestrict: "1", maxUserNamespaces: "63000" },
      /AppArmor.*kernel\.apparmor_restrict_unprivileged_userns=0/,
    ],
    [{ maxUserNamespaces: "63000" }, /this user may not create user namespaces here/],
  ])("a normal user told why and how to enable it: %j", (settings, why) => {
    const message = explainNoNamespaces({
      root: false,
      settings,
      error: "unshare failed: Operation not permitted",
    })
    expect(message).toContain(
      "cannot create a private network namespace for the simulated VM: unshare failed",
    )
    expect(message).toMatch(why)
    expect(message).toContain("Run as root, or where unprivileged user namespaces are allowed.")
  })

  it("root without the right (a container) is told about CAP_SYS_ADMIN", () => {
    expect(explainNoNamespaces({ root: true, settings: {}, error: "unshare failed" })).toMatch(
      /CAP_SYS_ADMIN/,
    )
  })
})
