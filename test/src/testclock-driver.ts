/**
 * Runs a core effect that does real I/O against the emulator while every wait (backoff, Retry-After,
 * the 410 window, attempt timeouts, deadlines) runs on the `TestClock`.
 *
 * The HTTP client is instrumented: it counts requests in flight and buffers each body inside that
 * window. The driver moves the clock only while no request is in flight, and then straight to the
 * earliest pending sleep — so a backoff passes in no real time, an attempt timeout fires only when the
 * attempt is really waiting on the clock, and the TestClock time the call took is exactly what its
 * schedule slept.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import { Chunk, Clock, Duration, Effect, type Exit, Fiber, Option, TestClock } from "effect"

export interface Instrumentation {
  inFlight: number
  /** Added before IMDS's answer is handed back (TestClock), for the next `remaining` IMDS requests. */
  latency: { ms: number; remaining: number }
}

export const makeInstrumentation = (): Instrumentation => ({ inFlight: 0, latency: { ms: 0, remaining: 0 } })

/** `client` with in-flight counting, buffered bodies and the scripted latency for URLs under `imdsUrl`. */
export const instrument = (
  client: HttpClient.HttpClient,
  state: Instrumentation,
  imdsUrl: string,
): HttpClient.HttpClient =>
  HttpClient.transformResponse(client, (response) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        state.inFlight++
      }),
      () =>
        Effect.flatMap(response, (res) =>
          Effect.map(res.arrayBuffer, (buffer) =>
            HttpClientResponse.fromWeb(
              res.request,
              new Response(buffer.byteLength === 0 ? null : buffer, {
                status: res.status,
                headers: res.headers as Record<string, string>,
              }),
            ),
          ),
        ),
      () =>
        Effect.sync(() => {
          state.inFlight--
        }),
    ).pipe(
      Effect.tap((res) =>
        res.request.url.startsWith(imdsUrl) && state.latency.remaining > 0
          ? Effect.suspend(() => {
              state.latency.remaining--
              return Effect.sleep(Duration.millis(state.latency.ms))
            })
          : Effect.void,
      ),
    ),
  )

const realPause = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/** The outcome of {@link drive}: the exit and the TestClock milliseconds it took. */
export interface Driven<A, E> {
  readonly exit: Exit.Exit<A, E>
  readonly elapsedMs: number
}

/** Fork `effect` and advance the TestClock whenever it is only waiting on the clock. */
export const drive = <A, E>(
  effect: Effect.Effect<A, E>,
  state: Instrumentation,
): Effect.Effect<Driven<A, E>, never, never> =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const fiber = yield* Effect.fork(
      Effect.gen(function* () {
        const exit = yield* Effect.exit(effect)
        return { exit, end: yield* Clock.currentTimeMillis }
      }),
    )
    let lastKey = ""
    let stable = 0
    while (Option.isNone(yield* Fiber.poll(fiber))) {
      yield* realPause(2)
      const sleeps = yield* TestClock.sleeps()
      if (state.inFlight > 0 || Chunk.isEmpty(sleeps)) {
        stable = 0
        continue
      }
      // The same pending sleeps on consecutive looks (no I/O in between): the fiber is only waiting.
      const key = Chunk.join(Chunk.map(sleeps, String), ",")
      stable = key === lastKey ? stable + 1 : 0
      lastKey = key
      if (stable < 2) continue
      const now = yield* Clock.currentTimeMillis
      const next = Math.min(...Chunk.toReadonlyArray(sleeps))
      yield* TestClock.adjust(Duration.millis(Math.max(0, next - now)))
      stable = 0
      lastKey = ""
    }
    const { exit, end } = yield* Fiber.join(fiber)
    return { exit, elapsedMs: end - start }
  })
