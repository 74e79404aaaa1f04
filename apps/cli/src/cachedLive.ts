/**
 * The services behind `azmi --cache` (or `AZMI_TOKEN_CACHE=1`): the core's file token cache wraps the
 * credential (so ARM calls share cached tokens too), and the core's HTTP stack (`live.ts`) is loaded only
 * on a cache miss or an actual IMDS/ARM call — so a cached `azmi token` never loads it.
 * @module
 */
import {
  type Azmi,
  describeSelector,
  FileTokenCache,
  InstanceMetadata,
  ResourceGroups,
  RoleAssignments,
  TokenProvider,
} from "@azmi/core"
import { Context, Effect, Layer, Stream } from "effect"

type Env = Readonly<Record<string, string | undefined>>

const set = (v: string | undefined): v is string => v !== undefined && v !== ""

/** Which credential and endpoint tokens come from, as the cache key names them (mirrors the core's choice). */
export const cacheKeyParts = (
  options: Azmi.AzmiOptions,
  env: Env,
): { endpoint: string; identity: string } => {
  const servicePrincipal =
    options.credential === "client-secret" ||
    (options.credential !== "managed-identity" &&
      set(env.AZURE_TENANT_ID) &&
      set(env.AZURE_CLIENT_ID) &&
      set(env.AZURE_CLIENT_SECRET))
  if (servicePrincipal) {
    return {
      endpoint: env.AZURE_AUTHORITY_HOST ?? "https://login.microsoftonline.com",
      identity: `service-principal ${env.AZURE_TENANT_ID ?? ""}/${env.AZURE_CLIENT_ID ?? ""}`,
    }
  }
  return {
    endpoint:
      options.imdsEndpoint ??
      env.AZMI_IMDS_ENDPOINT ??
      env.AZURE_POD_IDENTITY_AUTHORITY_HOST ??
      "http://169.254.169.254",
    identity:
      options.identity !== undefined
        ? describeSelector(options.identity)
        : set(env.AZURE_CLIENT_ID)
          ? `client_id=${env.AZURE_CLIENT_ID}`
          : "system-assigned",
  }
}

type LiveModule = typeof import("./live.js")

export const makeCachedLayer = (options: Azmi.AzmiOptions, env: Env, loadLive: () => Promise<LiveModule>) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const key = cacheKeyParts(options, env)
      // The core's services, built once, on first use; their token provider (ARM's too) is file-cached.
      const core = yield* Effect.cached(
        Effect.flatMap(Effect.promise(loadLive), (live) =>
          Layer.buildWithScope(
            live.makeLiveLayer({ ...options, wrapTokenProvider: FileTokenCache.layer(key) }),
            scope,
          ),
        ),
      )
      const use = <S, I extends Azmi.AzmiServices, A, E>(
        tag: Context.Tag<I, S>,
        f: (service: S) => Effect.Effect<A, E>,
      ) => Effect.flatMap(core, (ctx) => f(Context.get(ctx, tag)))
      const useStream = <S, I extends Azmi.AzmiServices, A, E>(
        tag: Context.Tag<I, S>,
        f: (service: S) => Stream.Stream<A, E>,
      ) => Stream.unwrap(Effect.map(core, (ctx) => f(Context.get(ctx, tag))))

      const upstream = TokenProvider.of({
        description: "the core's credential (loaded on a cache miss)",
        getToken: (resource, getOptions) => use(TokenProvider, (tp) => tp.getToken(resource, getOptions)),
      })
      return Layer.mergeAll(
        // Fast path: a fresh token in the file answers without loading the core; a miss goes to the
        // core's file-cached provider, which takes the lock, fetches once and writes.
        Layer.succeed(TokenProvider, FileTokenCache.make(upstream, { ...key, readOnly: true })),
        Layer.succeed(
          InstanceMetadata,
          InstanceMetadata.of({ compute: use(InstanceMetadata, (m) => m.compute) }),
        ),
        Layer.succeed(
          ResourceGroups,
          ResourceGroups.of({
            get: (s, g) => use(ResourceGroups, (rg) => rg.get(s, g)),
            exists: (s, g) => use(ResourceGroups, (rg) => rg.exists(s, g)),
            list: (s, o) => useStream(ResourceGroups, (rg) => rg.list(s, o)),
          }),
        ),
        Layer.succeed(
          RoleAssignments,
          RoleAssignments.of({
            create: (input) => use(RoleAssignments, (ra) => ra.create(input)),
            list: (input) => useStream(RoleAssignments, (ra) => ra.list(input)),
            delete: (input) => use(RoleAssignments, (ra) => ra.delete(input)),
          }),
        ),
      )
    }),
  )
