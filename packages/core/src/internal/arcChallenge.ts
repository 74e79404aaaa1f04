/**
 * Azure Arc's challenge, answered safely. HIMDS answers an unauthenticated token request with 401 and
 * `WWW-Authenticate: Basic realm=<file>`; whoever can read that file proves it is allowed a token by
 * sending the file's content back. A client that reads whatever file the realm names would send any
 * readable file — `/etc/shadow`, a private key — to whoever answered on the endpoint. So azmi reads the
 * file only when:
 *
 * 1. the realm is exactly `/var/opt/azcmagent/tokens/<name>.key` — absolute, already normal (no `..`, `.`
 *    or `//`), directly in that directory, `<name>` of letters, digits, `.`, `_`, `-` (not starting with `.`);
 * 2. the directory resolves to itself and the file is not a symbolic link (opened with `O_NOFOLLOW`), so no
 *    link leads out of the directory;
 * 3. it is a regular file (opened with `O_NONBLOCK`: a FIFO cannot hang the open) of at most 4096 bytes
 *    (read with a bound, so a file that grows after `fstat` is still refused);
 * 4. its content is printable ASCII without spaces (it becomes a header value).
 *
 * Any other case is `ArcChallengeFailed` naming the rule, and nothing is sent. Content is never logged or
 * put in an error.
 * @internal
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from "node:fs"
import { posix } from "node:path"
import { Effect, Either, Redacted } from "effect"
import { ARC_KEY_DIRECTORY, ArcChallengeFailed } from "../Errors.js"

/** The SDKs' (and HIMDS's) limit on a key file. */
export const ARC_KEY_MAX_BYTES = 4096

/** `<name>.key`: a plain file name, not hidden. */
const KEY_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,250}\.key$/

const CHALLENGE = /^basic +realm=/i

/**
 * The key file a `WWW-Authenticate` header names, if it passes the path rule for `directory` (the Arc
 * directory; another only in tests).
 *
 * @example
 * ```ts
 * keyFileOf("Basic realm=/var/opt/azcmagent/tokens/3f1c.key", endpoint) // Right("/var/opt/azcmagent/tokens/3f1c.key")
 * keyFileOf("Basic realm=/var/opt/azcmagent/tokens/../../../etc/shadow.key", endpoint) // Left: rule "path"
 * ```
 */
export const keyFileOf = (
  header: string | undefined,
  endpoint: string,
  directory: string = ARC_KEY_DIRECTORY,
): Either.Either<string, ArcChallengeFailed> => {
  if (header === undefined || header === "") {
    return Either.left(new ArcChallengeFailed({ endpoint, rule: "missing-header" }))
  }
  const prefix = CHALLENGE.exec(header)
  if (prefix === null) {
    return Either.left(new ArcChallengeFailed({ endpoint, rule: "header-format", detail: header }))
  }
  let realm = header.slice(prefix[0].length)
  // A quoted realm is valid HTTP; quotes are stripped only as a pair around a value without escapes.
  if (realm.length >= 2 && realm.startsWith('"') && realm.endsWith('"')) realm = realm.slice(1, -1)
  const base = posix.basename(realm)
  // Each test closes a way out: another directory, `..`/`.`/`//`, a trailing slash, a name that is not
  // `<name>.key`.
  const ok =
    realm.startsWith(`${directory}/`) &&
    posix.isAbsolute(realm) &&
    posix.normalize(realm) === realm &&
    posix.dirname(realm) === directory &&
    realm === `${directory}/${base}` &&
    KEY_FILE.test(base)
  return ok
    ? Either.right(realm)
    : Either.left(new ArcChallengeFailed({ endpoint, rule: "path", path: realm.slice(0, 300) }))
}

const errnoOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" ? e.code : "error"

/**
 * Read the key file at `path` (already through {@link keyFileOf}) under the file rules.
 *
 * Synchronous on purpose: every call is bounded without a timer — the open cannot block (`O_NONBLOCK`,
 * and `O_NOFOLLOW`), only a regular file of at most 4096 bytes is read (checked on the open descriptor),
 * and nothing waits on Node's thread pool — so a token request never hangs on the file, and the challenge
 * takes no time a test clock would have to account for.
 *
 * @example
 * ```ts
 * readKeyFile("/var/opt/azcmagent/tokens/3f1c.key", endpoint) // Effect<Redacted<string>, ArcChallengeFailed>
 * ```
 */
export const readKeyFile = (
  path: string,
  endpoint: string,
  directory: string = ARC_KEY_DIRECTORY,
  platform: string = process.platform,
): Effect.Effect<Redacted.Redacted<string>, ArcChallengeFailed> =>
  Effect.try({
    try: () => readKey(path, directory, platform),
    catch: (e) =>
      e instanceof KeyFileRule
        ? new ArcChallengeFailed({ endpoint, rule: e.rule, path, detail: e.detail })
        : new ArcChallengeFailed({ endpoint, rule: "unreadable", path, detail: errnoOf(e) }),
  })

class KeyFileRule {
  constructor(
    readonly rule: ArcChallengeFailed["rule"],
    readonly detail?: string,
  ) {}
}

const readKey = (path: string, directory: string, platform: string): Redacted.Redacted<string> => {
  if (platform !== "linux") throw new KeyFileRule("platform", platform)
  // The directory itself must not lead elsewhere (O_NOFOLLOW guards only the last component).
  let resolved: string | undefined
  try {
    resolved = realpathSync(directory)
  } catch {
    resolved = undefined
  }
  if (resolved !== directory) throw new KeyFileRule("symlink")
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (e) {
    const code = errnoOf(e)
    throw code === "ENOENT"
      ? new KeyFileRule("missing-file")
      : code === "ELOOP" || code === "EMLINK"
        ? new KeyFileRule("symlink")
        : new KeyFileRule("unreadable", code)
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new KeyFileRule("not-regular-file")
    if (stat.size > ARC_KEY_MAX_BYTES) throw new KeyFileRule("too-large")
    // One byte more than allowed: a file that grew since fstat is refused, not cut.
    const buffer = Buffer.alloc(ARC_KEY_MAX_BYTES + 1)
    let length = 0
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null)
      if (n === 0) break
      length += n
      if (length === buffer.length) break
    }
    if (length > ARC_KEY_MAX_BYTES) throw new KeyFileRule("too-large")
    const secret = buffer.subarray(0, length).toString("latin1")
    buffer.fill(0)
    if (!/^[\x21-\x7e]+$/.test(secret)) throw new KeyFileRule("invalid-content")
    return Redacted.make(secret)
  } finally {
    closeSync(fd)
  }
}
