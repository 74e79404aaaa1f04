/**
 * The one tenant-id test of the package: a GUID or a domain name (`contoso.onmicrosoft.com`), as Entra
 * accepts in a token URL's path.
 * @internal
 */
const TENANT = /^[0-9a-zA-Z.-]{1,100}$/

/** True when `value` can name a tenant in `{authority}/{tenant}/oauth2/v2.0/token`. */
export const isTenantId = (value: string): boolean => TENANT.test(value)
