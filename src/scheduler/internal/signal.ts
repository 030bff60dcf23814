/**
 * A one-shot signal with one waiter: what a parked worker and the
 * dispatcher wait on. It does what a `Deferred` does for them at a fraction
 * of the cost — `Deferred.unsafeMake` copies the whole Effect prototype into
 * each new object (about 2 KB and a microsecond), and the dispatcher and
 * every parked worker make one per wake-up (bench/history.md, "trickle").
 *
 * `complete` is synchronous and idempotent (the first value wins); `await`
 * resumes the fiber waiting on it, or returns at once when already
 * completed. An interrupted waiter simply stops waiting: a later
 * `complete` finds no one and is harmless.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** @internal */
export class Signal<A> {
  private value: Effect.Effect<A> | undefined = undefined
  private waiter: ((value: Effect.Effect<A>) => void) | undefined = undefined

  /** Completes the signal with `value` (the first completion wins). */
  complete(value: Effect.Effect<A>): void {
    if (this.value !== undefined) return
    this.value = value
    const waiter = this.waiter
    this.waiter = undefined
    if (waiter !== undefined) waiter(value)
  }

  /** Whether the signal was completed. */
  get done(): boolean {
    return this.value !== undefined
  }

  /** Waits for the signal (one waiter at a time). */
  await(): Effect.Effect<A> {
    return this.value !== undefined ? this.value : Effect.async<A>((resume) => {
      if (this.value !== undefined) resume(this.value)
      else this.waiter = resume
    })
  }
}

/** The two values a parked worker is woken with, allocated once. @internal */
export const work: Effect.Effect<boolean> = Effect.succeed(true)
/** @internal */
export const leave: Effect.Effect<boolean> = Effect.succeed(false)
