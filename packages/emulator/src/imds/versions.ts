/** IMDS api-versions (oldest first), as listed by Azure's IMDS documentation. */
export const IMDS_API_VERSIONS: ReadonlyArray<string> = [
  "2017-03-01",
  "2017-04-02",
  "2017-08-01",
  "2017-10-01",
  "2017-12-01",
  "2018-02-01",
  "2018-04-02",
  "2018-10-01",
  "2019-02-01",
  "2019-03-11",
  "2019-04-30",
  "2019-06-01",
  "2019-06-04",
  "2019-08-01",
  "2019-08-15",
  "2019-11-01",
  "2020-06-01",
  "2020-07-15",
  "2020-09-01",
  "2020-10-01",
  "2020-12-01",
  "2021-01-01",
  "2021-02-01",
  "2021-03-01",
  "2021-05-01",
  "2021-08-01",
  "2021-10-01",
  "2021-11-01",
  "2021-11-15",
  "2021-12-13",
  "2023-07-01",
  "2023-11-15",
  "2024-03-15",
  "2024-07-17",
  "2025-04-07",
]

/** The oldest api-version the managed-identity category accepts. */
export const IDENTITY_MIN_API_VERSION = "2018-02-01"

export const isImdsApiVersion = (v: string | null): v is string => v !== null && IMDS_API_VERSIONS.includes(v)

export const NEWEST_VERSIONS: ReadonlyArray<string> = IMDS_API_VERSIONS.slice(-3).reverse()

export const API_VERSION_ERROR =
  "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds"

/** The IMDS `Server` header value observed on Azure VMs. */
export const IMDS_SERVER_HEADER = "IMDS/150.870.65.1854"
