/**
 * The one GUID test of the package (subscription, client, object and principal ids, app ids as
 * resources), any case.
 * @internal
 */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** True when `value` is a GUID like `00000000-0000-0000-0000-000000000000`. */
export const isGuid = (value: string): boolean => GUID.test(value)
