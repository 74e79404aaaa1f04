/**
 * Which built-in role to name when ARM denies an action: the smallest one whose permissions include it.
 * A hint that names a role without the action (Contributor for a role assignment) sends the user round
 * the same 403 forever, so the choice follows the roles' documented permissions, not a guess.
 * @internal
 */

/**
 * Contributor's `notActions` (Azure's built-in role definition b24988ac-6180-42a0-ab88-20f7382dd24c):
 * everything else Contributor may do.
 */
const CONTRIBUTOR_NOT_ACTIONS = [
  "Microsoft.Authorization/*/Delete",
  "Microsoft.Authorization/*/Write",
  "Microsoft.Authorization/elevateAccess/Action",
  "Microsoft.Blueprint/blueprintAssignments/write",
  "Microsoft.Blueprint/blueprintAssignments/delete",
  "Microsoft.Compute/galleries/share/action",
  "Microsoft.Purview/consents/write",
  "Microsoft.Purview/consents/delete",
  "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
  "Microsoft.Subscription/cancel/action",
  "Microsoft.Subscription/enable/action",
] as const

/** ARM's action patterns: case-insensitive, `*` matches any run of characters (slashes included). */
const matches = (pattern: string, action: string): boolean =>
  new RegExp(
    `^${pattern
      .split("*")
      .map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
    "i",
  ).test(action)

/**
 * The built-in role to grant for `action`: `Reader` for reads, `User Access Administrator` for
 * `Microsoft.Authorization/*` (role assignments and the like: `Microsoft.Authorization/*` is in its
 * actions), `Owner` for the other actions Contributor excludes, else `Contributor`.
 *
 * @example
 * ```ts
 * grantingRole("Microsoft.Authorization/roleAssignments/write") // "User Access Administrator"
 * ```
 */
export const grantingRole = (
  action: string,
): "Reader" | "Contributor" | "User Access Administrator" | "Owner" => {
  if (/\/read$/i.test(action)) return "Reader"
  if (!CONTRIBUTOR_NOT_ACTIONS.some((p) => matches(p, action))) return "Contributor"
  return /^Microsoft\.Authorization\//i.test(action) ? "User Access Administrator" : "Owner"
}

/** Who may create a role assignment at a scope (the roles holding `Microsoft.Authorization/roleAssignments/write`). */
export const WHO_GRANTS = "An Owner or User Access Administrator of the scope"
