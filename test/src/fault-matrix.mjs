/**
 * The fault matrix as data: one row per fault the emulator can inject, with what each surface must do.
 *
 * One table, three readers: `fault-matrix-core.test.ts` (the core on the `TestClock`, default retry
 * policies), `fault-matrix-shells.test.ts` (the built `azmi` CLI and the azmi-http app, in real time under
 * short budgets) and `scripts/gen-reliability.mjs` (the README's reliability section, which
 * `reliability-doc.test.ts` keeps identical to what this table generates). Plain `.mjs` with JSDoc so the
 * generator runs on Node 20 without a TypeScript step; `fault-matrix.d.mts` carries the types.
 *
 * Every row performs the same operation on every surface: read the resource group `DevTest` as the VM's
 * system-assigned identity (which holds Reader on it), i.e. one IMDS token request, then one ARM GET.
 *
 * - `fault`: the emulator `FaultSpec` injected before the operation (`null`: none; see `noListener`).
 * - `clientLatencyMs`: latency the core row adds on the TestClock (real latency cannot be virtualised).
 * - `noListener`: IMDS points at a port where nothing listens.
 * - `core`: outcome (`success` or the error `_tag`), upstream requests as the emulator counted them, and
 *   the bounds of the TestClock time the call took (the schedule: backoff with jitter, Retry-After, the
 *   410 window, attempt timeouts).
 * - `shells`: the same row through the CLI and the HTTP app: the budgets (`AZMI_DEADLINE_MS`,
 *   `AZMI_ATTEMPT_TIMEOUT_MS`, or the same core options in-process), an optional real-time fault
 *   override, the CLI exit code, the HTTP status, upstream counts and a loose upper bound on wall time.
 * @module
 */

/** The ARM body of an expired token, as ARM words it. */
const expiredTokenBody = JSON.stringify({
  error: {
    code: "ExpiredAuthenticationToken",
    message:
      "The access token expiry UTC time '8/17/2017 10:54:41 PM' is earlier than current UTC time '8/17/2017 10:55:43 PM'.",
  },
})

/** ARM's 404 for a missing group. */
const groupNotFoundBody = JSON.stringify({
  error: { code: "ResourceGroupNotFound", message: "Resource group 'DevTest' could not be found." },
})

/** Wall-time allowance per shell row on top of the schedule (process start, TLS, a loaded machine). */
export const shellSlackMs = 15_000

/** @type {ReadonlyArray<import("./fault-matrix.d.mts").FaultRow>} */
export const faultMatrix = [
  {
    id: "imds-404",
    upstream: "IMDS",
    title: "404 (IMDS updating), once",
    fault: { target: "imds-token", status: 404, count: 1 },
    core: { outcome: "success", imds: 2, arm: 1, elapsedMs: [800, 1_200] },
    shells: { env: {}, cli: 0, http: 200, imds: 2, arm: 1, maxElapsedMs: 1_200 },
  },
  {
    id: "imds-410-short",
    upstream: "IMDS",
    title: "410 (IMDS restarting), twice",
    fault: { target: "imds-token", status: 410, count: 2 },
    core: { outcome: "success", imds: 3, arm: 1, elapsedMs: [20_000, 20_000] },
    shells: {
      env: { AZMI_DEADLINE_MS: "2000" },
      cli: 6,
      http: 502,
      imds: 1,
      arm: 0,
      maxElapsedMs: 0,
      note: "the next 410 retry (10 s) would pass the 2 s deadline: fails at once",
    },
  },
  {
    id: "imds-410-window",
    upstream: "IMDS",
    title: "410 for the whole 70 s window",
    fault: { target: "imds-token", status: 410, count: Number.POSITIVE_INFINITY },
    core: { outcome: "TokenRequestFailed", imds: 8, arm: 0, elapsedMs: [70_000, 70_000] },
    shells: {
      env: { AZMI_DEADLINE_MS: "2000" },
      cli: 6,
      http: 502,
      imds: 1,
      arm: 0,
      maxElapsedMs: 0,
      note: "bounded by the 2 s deadline",
    },
  },
  {
    id: "imds-429-retry-after",
    upstream: "IMDS",
    title: "429 with Retry-After: 1, once",
    fault: { target: "imds-token", status: 429, retryAfter: 1, count: 1 },
    core: { outcome: "success", imds: 2, arm: 1, elapsedMs: [1_000, 1_000] },
    shells: { env: {}, cli: 0, http: 200, imds: 2, arm: 1, maxElapsedMs: 1_000 },
  },
  {
    id: "imds-429-no-retry-after",
    upstream: "IMDS",
    title: "429 without Retry-After, once",
    fault: { target: "imds-token", status: 429, count: 1 },
    core: { outcome: "success", imds: 2, arm: 1, elapsedMs: [800, 1_200] },
    shells: { env: {}, cli: 0, http: 200, imds: 2, arm: 1, maxElapsedMs: 1_200 },
  },
  {
    id: "imds-429-always",
    upstream: "IMDS",
    title: "429 on every request",
    fault: { target: "imds-token", status: 429, count: Number.POSITIVE_INFINITY },
    core: { outcome: "ImdsThrottled", imds: 6, arm: 0, elapsedMs: [24_800, 37_200] },
    shells: { env: { AZMI_DEADLINE_MS: "2000" }, cli: 6, http: 429, imds: 2, arm: 0, maxElapsedMs: 2_000 },
  },
  {
    id: "imds-500",
    upstream: "IMDS",
    title: "500, once",
    fault: { target: "imds-token", status: 500, count: 1 },
    core: { outcome: "success", imds: 2, arm: 1, elapsedMs: [800, 1_200] },
    shells: { env: {}, cli: 0, http: 200, imds: 2, arm: 1, maxElapsedMs: 1_200 },
  },
  {
    id: "imds-503-always",
    upstream: "IMDS",
    title: "503 on every request",
    fault: { target: "imds-token", status: 503, count: Number.POSITIVE_INFINITY },
    core: { outcome: "TokenRequestFailed", imds: 6, arm: 0, elapsedMs: [24_800, 37_200] },
    shells: { env: { AZMI_DEADLINE_MS: "2000" }, cli: 6, http: 502, imds: 2, arm: 0, maxElapsedMs: 2_000 },
  },
  {
    id: "imds-reset",
    upstream: "IMDS",
    title: "connection reset, once",
    fault: { target: "imds-token", reset: true, count: 1 },
    core: { outcome: "success", imds: 2, arm: 1, elapsedMs: [800, 1_200] },
    shells: { env: {}, cli: 0, http: 200, imds: 2, arm: 1, maxElapsedMs: 1_200 },
  },
  {
    id: "imds-latency",
    upstream: "IMDS",
    title: "latency past the attempt timeout, once",
    fault: null,
    clientLatencyMs: 15_000,
    core: { outcome: "success", imds: 2, arm: 1, elapsedMs: [10_800, 11_200] },
    shells: {
      env: { AZMI_ATTEMPT_TIMEOUT_MS: "1500" },
      fault: { target: "imds-token", latencyMs: 6_000, count: 1 },
      cli: 0,
      http: 200,
      imds: 2,
      arm: 1,
      maxElapsedMs: 2_700,
      note: "6 s latency against a 1.5 s attempt timeout",
    },
  },
  {
    id: "imds-invalid-json",
    upstream: "IMDS",
    title: "200 with malformed JSON",
    fault: { target: "imds-token", malformed: "invalid-json", count: 1 },
    core: { outcome: "MalformedTokenResponse", imds: 1, arm: 0, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 6, http: 502, imds: 1, arm: 0, maxElapsedMs: 0 },
  },
  {
    id: "imds-truncated",
    upstream: "IMDS",
    title: "200 with truncated JSON",
    fault: { target: "imds-token", malformed: "truncated", count: 1 },
    core: { outcome: "MalformedTokenResponse", imds: 1, arm: 0, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 6, http: 502, imds: 1, arm: 0, maxElapsedMs: 0 },
  },
  {
    id: "imds-missing-expires-on",
    upstream: "IMDS",
    title: "200 without expires_on (expires_in used)",
    fault: { target: "imds-token", malformed: "missing-expires-on", count: 1 },
    core: { outcome: "success", imds: 1, arm: 1, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 0, http: 200, imds: 1, arm: 1, maxElapsedMs: 0 },
  },
  {
    id: "imds-no-listener",
    upstream: "IMDS",
    title: "nothing listening",
    fault: null,
    noListener: true,
    core: { outcome: "ImdsUnavailable", imds: 0, arm: 0, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 3, http: 503, imds: 0, arm: 0, maxElapsedMs: 0 },
  },
  {
    id: "arm-401-expired",
    upstream: "ARM",
    title: "401 ExpiredAuthenticationToken, once",
    fault: {
      target: "arm",
      status: 401,
      body: expiredTokenBody,
      headers: {
        "WWW-Authenticate":
          'Bearer authorization_uri="https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47", error="invalid_token", error_description="The access token has expired."',
      },
      count: 1,
    },
    core: { outcome: "success", imds: 2, arm: 2, elapsedMs: [0, 0] },
    shells: {
      env: {},
      cli: 0,
      http: 200,
      imds: 2,
      arm: 2,
      maxElapsedMs: 0,
      note: "one retry with a freshly fetched token",
    },
  },
  {
    id: "arm-403",
    upstream: "ARM",
    title: "403 AuthorizationFailed",
    fault: { target: "arm", status: 403, count: 1 },
    core: { outcome: "AuthorizationFailed", imds: 1, arm: 1, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 4, http: 403, imds: 1, arm: 1, maxElapsedMs: 0 },
  },
  {
    id: "arm-404",
    upstream: "ARM",
    title: "404 ResourceGroupNotFound",
    fault: { target: "arm", status: 404, body: groupNotFoundBody, count: 1 },
    core: { outcome: "ResourceGroupNotFound", imds: 1, arm: 1, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 5, http: 404, imds: 1, arm: 1, maxElapsedMs: 0 },
  },
  {
    id: "arm-429-retry-after",
    upstream: "ARM",
    title: "429 with Retry-After: 1, once",
    fault: { target: "arm", status: 429, retryAfter: 1, count: 1 },
    core: { outcome: "success", imds: 1, arm: 2, elapsedMs: [1_000, 1_000] },
    shells: { env: {}, cli: 0, http: 200, imds: 1, arm: 2, maxElapsedMs: 1_000 },
  },
  {
    id: "arm-500",
    upstream: "ARM",
    title: "500, once",
    fault: { target: "arm", status: 500, count: 1 },
    core: { outcome: "success", imds: 1, arm: 2, elapsedMs: [250, 500] },
    shells: { env: {}, cli: 0, http: 200, imds: 1, arm: 2, maxElapsedMs: 500 },
  },
  {
    id: "arm-503-always",
    upstream: "ARM",
    title: "503 on every request",
    fault: { target: "arm", status: 503, count: Number.POSITIVE_INFINITY },
    core: { outcome: "ArmRequestFailed", imds: 1, arm: 5, elapsedMs: [3_750, 7_500] },
    shells: {
      env: { AZMI_DEADLINE_MS: "3900" },
      fault: { target: "arm", status: 503, retryAfter: 2, count: Number.POSITIVE_INFINITY },
      cli: 6,
      http: 504,
      imds: 1,
      arm: 2,
      maxElapsedMs: 3_900,
      note: "with Retry-After: 2 under a 3.9 s deadline: the third attempt would pass it (Timeout)",
    },
  },
  {
    id: "arm-reset",
    upstream: "ARM",
    title: "connection reset, once",
    fault: { target: "arm", reset: true, count: 1 },
    core: { outcome: "success", imds: 1, arm: 2, elapsedMs: [250, 500] },
    shells: { env: {}, cli: 0, http: 200, imds: 1, arm: 2, maxElapsedMs: 500 },
  },
  {
    id: "arm-malformed",
    upstream: "ARM",
    title: "200 with a malformed body",
    fault: { target: "arm", malformed: "invalid-json", count: 1 },
    core: { outcome: "ArmRequestFailed", imds: 1, arm: 1, elapsedMs: [0, 0] },
    shells: { env: {}, cli: 6, http: 502, imds: 1, arm: 1, maxElapsedMs: 0 },
  },
]
