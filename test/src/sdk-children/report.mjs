// Calls ARM (AZMI_ARM_ENDPOINT, trusted through NODE_EXTRA_CA_CERTS) with the token and prints the outcome.
export const report = async (token) => {
  const subscription = process.argv[2]
  const res = await fetch(
    `${process.env.AZMI_ARM_ENDPOINT}/subscriptions/${subscription}/resourcegroups?api-version=2021-04-01`,
    { headers: { authorization: `Bearer ${token}` } },
  )
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"))
  process.stdout.write(`${JSON.stringify({ arm: res.status, oid: claims.oid, appid: claims.appid })}\n`)
}
