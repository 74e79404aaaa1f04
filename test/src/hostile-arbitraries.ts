/**
 * fast-check arbitraries for hostile user strings, shared by the hostile-input suites: known-nasty
 * values (traversal, encodings, URL tricks, header injection, control characters, lookalikes, length
 * edges) mixed with arbitrary Unicode and near-valid mutations of legitimate values.
 */
import fc from "fast-check"

export const nasty = [
  "",
  " ",
  ".",
  "..",
  "../..",
  "%2e%2e",
  "%2E%2E%2F",
  "..%2f",
  "a/b",
  "a\\b",
  "a?b=c",
  "a#frag",
  "a%2Fb",
  "a%00b",
  "a\u0000b",
  "a\r\nHost: evil.example",
  "a\nb",
  "\t",
  "@evil.example",
  "//evil.example/x",
  "http://evil.example/",
  "https://evil.example/.default",
  "https://management.azure.com@evil.example/",
  "https://user:pass@management.azure.com/",
  "javascript:alert(1)",
  "file:///etc/passwd",
  "DevTest.",
  " DevTest",
  "DevTest ",
  "Dev Test",
  "(DevTest)",
  "Dév-Tést_1",
  "デブテスト",
  "🙂",
  "\u202eevil",
  "x".repeat(90),
  "x".repeat(91),
  "x".repeat(5000),
  "'",
  "''",
  "' or 1 eq 1 or '",
  "$filter=x",
  "&api-version=1999-01-01",
  "?api-version=1999-01-01",
  "%",
  "%zz",
  "%E0%A4%A",
  "00000000-0000-0000-0000-000000000000",
  "00000000-0000-0000-0000-00000000000",
  "00000000-0000-0000-0000-0000000000000",
  "{00000000-0000-0000-0000-000000000000}",
  "98F51385-2EDC-4B79-BED9-7718DE4CB861",
  "98f51385-2edc-4b79-bed9-7718de4cb861/../other",
  "/subscriptions",
  "/subscriptions/",
  "/",
  "//",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourcegroups/DevTest/",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest/providers/Microsoft.Compute/virtualMachines/myVM",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/../providers/Microsoft.Authorization/roleAssignments/x",
  "/subscriptions/98f51385-2edc-4b79-bed9-7718de4cb861/resourceGroups/DevTest/providers/Microsoft.Authorization/roleAssignments/1",
  "/providers/Microsoft.Management/managementGroups/root",
  "https://management.azure.com/",
  "https://management.azure.com/.default",
  "https://management.azure.com",
  "https://vault.azure.net",
  "api://my-app",
  "api://00000000-0000-0000-0000-000000000000/.default",
] as const

/** Any string: nasty constants, arbitrary Unicode (lone surrogates included), ASCII, and concatenations. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...nasty) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...nasty), fc.constantFrom(...nasty), fc.string({ maxLength: 6 }))
      .map(([a, b, c]) => `${a}${c}${b}`),
  },
)

/** Mostly-legal resource group names with one hostile twist, and arbitrary strings. */
export const groupName: fc.Arbitrary<string> = fc.oneof(
  fc.stringMatching(/^[-\w.()]{1,90}$/),
  fc.tuple(fc.stringMatching(/^[-\w.()]{0,20}$/), hostileString).map(([a, b]) => `${a}${b}`),
  hostileString,
)

/** GUIDs (valid), near-GUIDs and arbitrary strings. */
export const subscriptionId: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.tuple(fc.uuid(), hostileString).map(([u, s]) => `${u}${s}`),
  fc.tuple(hostileString, fc.uuid()).map(([s, u]) => `${s}${u}`),
  hostileString,
)

/** Scopes: well-formed ones built from hostile parts, and arbitrary strings. */
export const scope: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(subscriptionId).map(([s]) => `/subscriptions/${s}`),
  fc
    .tuple(
      fc.constantFrom("resourceGroups", "resourcegroups", "RESOURCEGROUPS", "rg"),
      subscriptionId,
      groupName,
    )
    .map(([kw, s, g]) => `/subscriptions/${s}/${kw}/${g}`),
  fc
    .tuple(
      subscriptionId,
      groupName,
      fc.constantFrom("Microsoft.Compute", "microsoft.web", "x", ".."),
      hostileString,
    )
    .map(([s, g, p, n]) => `/subscriptions/${s}/resourceGroups/${g}/providers/${p}/virtualMachines/${n}`),
  hostileString,
)

/** Resource URIs / scopes for tokens. */
export const resource: fc.Arbitrary<string> = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.webUrl().map((u) => `${u}/.default`),
  fc.uuid(),
  fc
    .tuple(fc.constantFrom("https://", "http://", "api://", "ftp://", ""), hostileString)
    .map(([p, s]) => `${p}${s}`),
  hostileString,
)
