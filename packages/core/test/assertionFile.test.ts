/**
 * The federated token file on Node's real file system: what is refused (and how fast), and the kubelet's
 * ways of replacing it — an atomic rename, and the projected volume's `..data` symbolic link swapped to a
 * new directory.
 */
import { execFileSync } from "node:child_process"
import { chmod, mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as AssertionFile from "../src/internal/assertionFile.js"
import { MAX_ASSERTION_BYTES } from "../src/internal/federatedAssertion.js"

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
const FAR = 4_000_000_000 // exp in 2096: the TestClock starts at 1970, real time is irrelevant here
const saToken = (tag: string) =>
  `${b64({ alg: "RS256" })}.${b64({ iss: "https://issuer.example/", sub: `system:serviceaccount:ns:${tag}`, aud: "api://AzureADTokenExchange", exp: FAR })}.c2ln`

const withDir = <A, E>(use: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "azmi-wi-"))),
    use,
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true })),
  )

const currentOf = (path: string) =>
  Effect.flatMap(AssertionFile.make(path), (file) => Effect.either(file.current))

describe("the federated token file on Node's file system", () => {
  it.effect(
    "a missing file is FederatedTokenFileUnreadable (Missing); the hint says how the webhook mounts it",
    () =>
      withDir((dir) =>
        Effect.gen(function* () {
          const path = join(dir, "nope")
          const result = yield* currentOf(path)
          expect(Either.isLeft(result) && result.left).toMatchObject({
            _tag: "FederatedTokenFileUnreadable",
            reason: "Missing",
            path,
          })
          const error = Either.isLeft(result) ? result.left : undefined
          expect(error?.message).toBe(
            `Cannot read the federated token file ${path} (AZURE_FEDERATED_TOKEN_FILE): it does not exist.`,
          )
          expect(error?.hint).toContain('azure.workload.identity/use: "true"')
        }),
      ),
  )

  it.effect(
    "a directory, a FIFO (refused at once, no blocked thread) and an empty file are refused by name",
    () =>
      withDir((dir) =>
        Effect.gen(function* () {
          const fifo = join(dir, "fifo")
          execFileSync("mkfifo", [fifo])
          const empty = join(dir, "empty")
          yield* Effect.promise(() => writeFile(empty, "\n"))
          const reasons = []
          for (const path of [dir, fifo, empty]) {
            const result = yield* currentOf(path)
            reasons.push(
              Either.isLeft(result) &&
                result.left._tag === "FederatedTokenFileUnreadable" &&
                result.left.reason,
            )
          }
          expect(reasons).toEqual(["NotAFile", "NotAFile", "Empty"])
        }),
      ),
  )

  it.effect(`a file over ${MAX_ASSERTION_BYTES} bytes is refused as TooLarge, its size named`, () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const path = join(dir, "big")
        yield* Effect.promise(() => writeFile(path, "a".repeat(MAX_ASSERTION_BYTES + 10)))
        const result = yield* currentOf(path)
        expect(Either.isLeft(result) && result.left).toMatchObject({
          reason: "TooLarge",
          detail: `${MAX_ASSERTION_BYTES + 10} bytes, at most ${MAX_ASSERTION_BYTES}`,
        })
      }),
    ),
  )

  it.effect.skipIf(process.getuid?.() === 0)("a file this user may not read is PermissionDenied", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const path = join(dir, "token")
        yield* Effect.promise(() => writeFile(path, saToken("a")))
        yield* Effect.promise(() => chmod(path, 0o000))
        const result = yield* currentOf(path)
        expect(Either.isLeft(result) && result.left).toMatchObject({ reason: "PermissionDenied" })
      }),
    ),
  )

  it.effect(
    "an atomic rename over the file (the emulator's kubelet, or any writer that replaces it) is picked up",
    () =>
      withDir((dir) =>
        Effect.gen(function* () {
          const path = join(dir, "token")
          yield* Effect.promise(() => writeFile(path, saToken("first")))
          const file = yield* AssertionFile.make(path)
          expect((yield* file.current).subject).toBe("system:serviceaccount:ns:first")
          expect((yield* file.current).subject).toBe("system:serviceaccount:ns:first")
          yield* Effect.promise(async () => {
            await writeFile(join(dir, "token.tmp"), saToken("second"))
            await rename(join(dir, "token.tmp"), path)
          })
          expect((yield* file.current).subject).toBe("system:serviceaccount:ns:second")
        }),
      ),
  )

  it.effect("the projected volume's swap (token → ..data/token, ..data → a new directory) is picked up", () =>
    withDir((dir) =>
      Effect.gen(function* () {
        const path = join(dir, "azure-identity-token")
        yield* Effect.promise(async () => {
          await mkdir(join(dir, "..2026_01_01_00_00_00.1"))
          await writeFile(join(dir, "..2026_01_01_00_00_00.1", "azure-identity-token"), saToken("first"))
          await symlink("..2026_01_01_00_00_00.1", join(dir, "..data"))
          await symlink("..data/azure-identity-token", path)
        })
        const file = yield* AssertionFile.make(path)
        expect((yield* file.current).subject).toBe("system:serviceaccount:ns:first")
        yield* Effect.promise(async () => {
          // What the kubelet's atomic writer does: a new timestamped directory, a new link renamed over ..data.
          await mkdir(join(dir, "..2026_01_01_00_48_00.2"))
          await writeFile(join(dir, "..2026_01_01_00_48_00.2", "azure-identity-token"), saToken("second"))
          await symlink("..2026_01_01_00_48_00.2", join(dir, "..data_tmp"))
          await rename(join(dir, "..data_tmp"), join(dir, "..data"))
        })
        expect((yield* file.current).subject).toBe("system:serviceaccount:ns:second")
      }),
    ),
  )
})
