// Calls ARM (AZMI_ARM_ENDPOINT, else management.azure.com itself — on a simulated host, where that name is the
// emulator; trusted through NODE_EXTRA_CA_CERTS) with the token and prints the outcome.
export const report = async (token) => {
  const subscription = process.argv[2]
  const arm = process.env.AZMI_ARM_ENDPOINT ?? "https://management.azure.com"
  const res = await fetch(`${arm}/subscriptions/${subscription}/resourcegroups?api-version=2021-04-01`, {
    headers: { authorization: `Bearer ${token}` },
  })
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"))
  process.stdout.write(`${JSON.stringify({ arm: res.status, oid: claims.oid, appid: claims.appid })}\n`)
}
