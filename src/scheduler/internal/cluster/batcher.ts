/**
 * Group commit for the source entity's per-run statements (claim, finish):
 * the first request runs at once, alone; requests made while a statement
 * runs wait and go together in the next one. No delay when idle, one
 * statement per wave under load (each statement through the PostgreSQL
 * client costs far more than a row in it: about half of a runner's CPU went
 * to the client's per-statement work). See docs/architecture.md, "The
 * cluster layer".
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"

interface Waiting<A, B, E> {
  readonly item: A
  readonly done: Deferred.Deferred<B, E>
}

/** @internal */
export class Batcher<A, B, E> {
  private queue: Array<Waiting<A, B, E>> = []
  private running = false

  /**
   * `run` gets the items of a wave (at most `maxBatch`) and returns one
   * result per item, in order; if it fails, every item of the wave fails.
   */
  constructor(
    private readonly run: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<B>, E>,
    private readonly maxBatch = 1000
  ) {}

  /** The result of `item`'s statement (run alone, or with the items of the same wave). */
  readonly submit = (item: A): Effect.Effect<B, E> =>
    Effect.suspend(() => {
      const done = Deferred.unsafeMake<B, E>(FiberId.none)
      this.queue.push({ item, done })
      if (!this.running) {
        this.running = true
        Effect.runFork(this.drain)
      }
      return Deferred.await(done)
    })

  private readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    if (this.queue.length === 0) {
      this.running = false
      return Effect.void
    }
    const wave = this.queue.splice(0, this.maxBatch)
    return Effect.flatMap(
      Effect.exit(this.run(wave.map((w) => w.item))),
      (exit) => {
        for (let i = 0; i < wave.length; i++) {
          const { done } = wave[i]!
          if (Exit.isSuccess(exit)) Deferred.unsafeDone(done, Exit.succeed(exit.value[i]!))
          else Deferred.unsafeDone(done, Exit.failCause(exit.cause))
        }
        return this.drain
      }
    )
  })
}
