/**
 * The services behind `azmi --cache` (or `AZMI_TOKEN_CACHE=1`): the core's file token cache wraps the
 * credential (so ARM calls share cached tokens too), and the core's HTTP stack (`live.ts`) is loaded only
 * on a cache miss or an actual IMDS/ARM call — so a cached `azmi token` never loads it.
 *
 * The cache key is the core's `AzmiConfig.identityKey`: the core decides which credential to use and
 * names everything that selects its identity (one place); the CLI only carries it to the cache, with
 * the digest of the inputs it was resolved from (`TokenCacheFile.optionsInputsKey`), by which the next
 * `azmi token` finds its token before loading the core (`tokenFromCache.ts`).
 * @module
 */
import {
  type Azmi,
  AzmiConfig,
  AzureHost,
  AzureHostLive,
  FileTokenCache,
  InstanceMetadata,
  ResourceGroups,
  RoleAssignments,
  TokenProvider,
} from "@azmi/core"
import { optionsInputsKey } from "@azmi/core/TokenCacheFile"
import { ConfigProvider, Context, Effect, Layer, Stream } from "effect"
import type { LayerOptions } from "./context.js"

type Env = Readonly<Record<string, string | undefined>>

type LiveModule = typeof import("./live.js")

/** `env` as the configuration the core resolves (the same variables `Azmi.layer` reads). */
const providerOf = (env: Env) =>
  ConfigProvider.fromMap(
    new Map(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
  )

export const makeCachedLayer = (options: LayerOptions, env: Env, loadLive: () => Promise<LiveModule>) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const config = yield* AzmiConfig.make(options).pipe(Effect.withConfigProvider(providerOf(env)))

      // One cache for the whole process — in front of `azmi token` and inside the core for ARM's
      // tokens — so a token is read, locked and written by one instance, and a cache that cannot be
      // used is reported once. On a miss it asks the core's own credential, which loading the core
      // hands over through `wrapTokenProvider`.
      let credential: TokenProvider["Type"] | undefined
      const core = yield* Effect.cached(
        Effect.flatMap(Effect.promise(loadLive), (live) =>
          Layer.buildWithScope(
            live.makeLiveLayer({
              ...options,
              wrapTokenProvider: Layer.effect(
                TokenProvider,
                Effect.map(TokenProvider, (inner) => {
                  credential = inner
                  return cache
                }),
              ),
            }),
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
        getToken: (resource, getOptions) =>
          Effect.flatMap(core, () =>
            credential === undefined
              ? Effect.dieMessage("the core was built without its credential")
              : credential.getToken(resource, getOptions),
          ),
      })
      const cache = FileTokenCache.make(upstream, {
        identity: config.identityKey,
        inputs: optionsInputsKey(options, env),
        path: FileTokenCache.defaultPath(env),
      })
      return Layer.mergeAll(
        Layer.succeed(TokenProvider, cache),
        // What the configuration already knows: no need to load the core's HTTP stack for it.
        Layer.succeed(AzureHost, AzureHostLive.make(config)),
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
