/** Types of `seed-quickstart.mjs` (plain JavaScript so `npm run demo` runs it on Node 20 as is). */
export declare const seedTokenCurl: string
export declare const seedArmCurl: string
export declare const fillSeedArmCurl: (values: {
  readonly subscriptionId: string
  readonly resourceGroup: string
  readonly accessToken: string
}) => string
export declare const seedGroupResponse: {
  readonly id: string
  readonly name: string
  readonly location: string
  readonly properties: { readonly provisioningState: string }
}
