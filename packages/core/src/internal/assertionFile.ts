/**
 * The federated token file (`AZURE_FEDERATED_TOKEN_FILE`) as a source of assertions: read, trimmed and
 * held; read again when the file changes (the kubelet replaces the projected token at 80 % of its
 * lifetime) or when the held token nears its own `exp`; and never handed out once it is expired or about
 * to be — an expired assertion would only come back from Entra as AADSTS700024.
 *
 * The file is read only as a regular file (opened non-blocking, so a FIFO at the path is refused instead
 * of hanging a thread of Node's pool) of at most {@link MAX_ASSERTION_BYTES}; symbolic links are followed,
 * as the kubelet's projected volumes are links into a `..data` directory it swaps atomically.
 * @internal
 */
import { constants, promises as fs } from "node:fs"
import { Clock, Effect, Either } from "effect"
import { FederatedTokenExpired, FederatedTokenFileUnreadable, FederatedTokenMalformed } from "../Errors.js"
import { type FederatedAssertion, MAX_ASSERTION_BYTES, parseAssertion } from "./federatedAssertion.js"

/** A held assertion is read again once it is within this much of its `exp`, changed file or not. */
export const REREAD_BEFORE_EXPIRY_MS = 5 * 60_000

/**
 * An assertion within this much of its `exp` is not sent: it could expire on the way, or by Entra's
 * clock. (The kubelet replaces a 1 h token 12 min before it expires.)
 */
export const MIN_ASSERTION_LIFETIME_MS = 60_000

/** What the holder needs from a file system (Node's by default; tests may pass another). */
export interface TokenFileSystem {
  /** A fingerprint of the file's current version: it changes whenever the file is rewritten or replaced. */
  readonly version: (path: string) => Effect.Effect<string, FederatedTokenFileUnreadable>
  /** The file's text and the version it was read at. */
  readonly read: (
    path: string,
  ) => Effect.Effect<{ readonly text: string; readonly version: string }, FederatedTokenFileUnreadable>
}

const unreadable = (path: string, error: unknown): FederatedTokenFileUnreadable => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return new FederatedTokenFileUnreadable({
    path,
    reason:
      code === "ENOENT" || code === "ENOTDIR"
        ? "Missing"
        : code === "EACCES" || code === "EPERM"
          ? "PermissionDenied"
          : "ReadFailed",
    detail: code,
  })
}

const versionOf = (s: {
  readonly dev: bigint
  readonly ino: bigint
  readonly size: bigint
  readonly mtimeNs: bigint
  readonly ctimeNs: bigint
}) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`

const OPEN_FOR_READ = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)

/** Node's file system. */
export const nodeFileSystem: TokenFileSystem = {
  version: (path) =>
    Effect.tryPromise({
      try: () => fs.stat(path, { bigint: true }),
      catch: (error) => unreadable(path, error),
    }).pipe(
      Effect.flatMap((stat) =>
        stat.isFile()
          ? Effect.succeed(versionOf(stat))
          : Effect.fail(new FederatedTokenFileUnreadable({ path, reason: "NotAFile" })),
      ),
    ),
  read: (path) =>
    Effect.acquireUseRelease(
      Effect.tryPromise({
        try: () => fs.open(path, OPEN_FOR_READ),
        catch: (error) => unreadable(path, error),
      }),
      (handle) =>
        Effect.gen(function* () {
          const stat = yield* Effect.tryPromise({
            try: () => handle.stat({ bigint: true }),
            catch: (error) => unreadable(path, error),
          })
          if (!stat.isFile()) return yield* new FederatedTokenFileUnreadable({ path, reason: "NotAFile" })
          if (stat.size > BigInt(MAX_ASSERTION_BYTES)) {
            return yield* new FederatedTokenFileUnreadable({
              path,
              reason: "TooLarge",
              detail: `${stat.size} bytes, at most ${MAX_ASSERTION_BYTES}`,
            })
          }
          // At most one byte more than allowed is read: a file that grew since the stat is refused too.
          const buffer = Buffer.alloc(MAX_ASSERTION_BYTES + 1)
          const { bytesRead } = yield* Effect.tryPromise({
            try: () => handle.read(buffer, 0, buffer.length, 0),
            catch: (error) => unreadable(path, error),
          })
          if (bytesRead > MAX_ASSERTION_BYTES) {
            return yield* new FederatedTokenFileUnreadable({
              path,
              reason: "TooLarge",
              detail: `more than ${MAX_ASSERTION_BYTES} bytes`,
            })
          }
          return { text: buffer.toString("utf8", 0, bytesRead), version: versionOf(stat) }
        }),
      (handle) => Effect.promise(() => handle.close().catch(() => undefined)),
    ),
}

/** The assertions of one token file. */
export interface AssertionFile {
  readonly path: string
  /**
   * The assertion to send now: the one held while the file is unchanged and it is far from its `exp`,
   * else the file's current one. Fails when the file cannot be read, is not a JWT, or holds a token that
   * expires within {@link MIN_ASSERTION_LIFETIME_MS}.
   */
  readonly current: Effect.Effect<
    FederatedAssertion,
    FederatedTokenFileUnreadable | FederatedTokenMalformed | FederatedTokenExpired
  >
  /** The file's assertion as it is now, expired or not (for `doctor`); does not change what is held. */
  readonly peekFile: Effect.Effect<FederatedAssertion, FederatedTokenFileUnreadable | FederatedTokenMalformed>
}

/**
 * @example
 * ```ts
 * const file = yield* AssertionFile.make("/var/run/secrets/azure/wi/token/azure-identity-token")
 * const assertion = yield* file.current // read once, then again only when the kubelet rotates it
 * ```
 */
export const make = (
  path: string,
  fileSystem: TokenFileSystem = nodeFileSystem,
): Effect.Effect<AssertionFile> =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    let held: { readonly assertion: FederatedAssertion; readonly version: string } | undefined

    const readNow: Effect.Effect<
      { readonly assertion: FederatedAssertion; readonly version: string },
      FederatedTokenFileUnreadable | FederatedTokenMalformed
    > = Effect.gen(function* () {
      const { text, version } = yield* fileSystem.read(path)
      if (text.trim() === "") return yield* new FederatedTokenFileUnreadable({ path, reason: "Empty" })
      const parsed = parseAssertion(text)
      if (Either.isLeft(parsed)) {
        return yield* new FederatedTokenMalformed({ path, problem: parsed.left, refusedBy: "azmi" })
      }
      return { assertion: parsed.right, version }
    })

    const current = lock.withPermits(1)(
      Effect.gen(function* () {
        const version = yield* fileSystem.version(path)
        const now = yield* Clock.currentTimeMillis
        if (
          held === undefined ||
          held.version !== version ||
          held.assertion.expiresOn - now <= REREAD_BEFORE_EXPIRY_MS
        ) {
          held = yield* readNow
        }
        const { assertion } = held
        if (assertion.expiresOn - now <= MIN_ASSERTION_LIFETIME_MS) {
          return yield* new FederatedTokenExpired({
            path,
            expiresOn: assertion.expiresOn,
            checkedAt: now,
            refusedBy: "azmi",
          })
        }
        return assertion
      }),
    )

    return { path, current, peekFile: Effect.map(readNow, (r) => r.assertion) }
  })
