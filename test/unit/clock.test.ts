import {getEventListeners} from 'node:events'

import {describe, expect, it} from 'vitest'

import {linkedSignal, Notifier, waitNotified} from '../../src/core/clock.js'
import {abortSignalsMadeBy} from '../helpers/abort-signals.js'
import {ManualClock} from '../helpers/manual-clock.js'

describe('Notifier', () => {
  it('wakes every waiter once per notify', async () => {
    const n = new Notifier()
    let woken = 0
    const a = n.wait().then(() => woken++)
    const b = n.wait().then(() => woken++)
    n.notify()
    await Promise.all([a, b])
    expect(woken).toBe(2)
  })

  it('resolves at once for a signal already aborted, and on abort otherwise, leaving no listener', async () => {
    const n = new Notifier()
    const done = new AbortController()
    done.abort()
    await n.wait(done.signal) // would hang if the aborted signal were not checked
    const later = new AbortController()
    const waiting = n.wait(later.signal)
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(1)
    later.abort()
    await waiting
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(0)
    const notified = new AbortController()
    const w = n.wait(notified.signal)
    n.notify()
    await w
    expect(getEventListeners(notified.signal, 'abort')).toHaveLength(0)
  })
})

describe('linkedSignal', () => {
  it('aborts with the reason of whichever source aborts, and dispose() removes its listeners', () => {
    const a = new AbortController()
    const b = new AbortController()
    const linked = linkedSignal(a.signal, b.signal)
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(1)
    b.abort(new Error('stop'))
    expect(linked.signal.aborted).toBe(true)
    expect((linked.signal.reason as Error).message).toBe('stop')
    linked.dispose()
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0)
    // A long-lived signal linked many times keeps no listener per call.
    for (let i = 0; i < 100; i++) linkedSignal(a.signal).dispose()
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0)
  })

  it('is aborted at once when a source already is', () => {
    const a = new AbortController()
    a.abort(new Error('early'))
    expect((linkedSignal(new AbortController().signal, a.signal).signal.reason as Error).message).toBe('early')
  })
})

describe('waitNotified', () => {
  it('ends on notify, on the timeout of the clock, or on abort; and leaves no timer, listener or notifier waiter behind', async () => {
    const clock = new ManualClock()
    const n = new Notifier()
    // What the waits left subscribed to the notifier: each subscription must be cancelled when its wait ends.
    let subscribed = 0
    const onNext = n.onNext.bind(n)
    n.onNext = (f) => {
      subscribed++
      const forget = onNext(f)
      return () => {
        subscribed--
        forget()
      }
    }
    const stop = new AbortController()
    // The stop signal lives as long as the daemon: a wait that ends must take its listener off it.
    const leftBehind = () => [clock.pendingTimers, getEventListeners(stop.signal, 'abort').length, subscribed]
    let ended = false
    const p1 = waitNotified(n, clock, 10_000, stop.signal).then(() => (ended = true))
    await clock.settle()
    expect(ended).toBe(false)
    expect(leftBehind()).toEqual([1, 1, 1])
    n.notify()
    await p1
    expect(leftBehind()).toEqual([0, 0, 0])
    const t0 = clock.now()
    const p2 = waitNotified(n, clock, 10_000, stop.signal)
    await clock.runUntil(() => clock.now() - t0 >= 10_000)
    await p2
    expect(leftBehind()).toEqual([0, 0, 0])
    const p3 = waitNotified(n, clock, 10_000, stop.signal)
    stop.abort()
    await p3
    expect(leftBehind()).toEqual([0, 0, 0])
  })

  it('makes no AbortSignal, however it ends (the progress loop waits once per check)', async () => {
    const clock = new ManualClock()
    const n = new Notifier()
    const stop = new AbortController()
    const made = await abortSignalsMadeBy(async () => {
      const notified = waitNotified(n, clock, 10_000, stop.signal)
      await clock.settle()
      n.notify()
      await notified
      const timedOut = waitNotified(n, clock, 10, stop.signal)
      await clock.advance(10)
      await timedOut
      const aborted = waitNotified(n, clock, 10_000, stop.signal)
      stop.abort()
      await aborted
    })
    expect(made).toBe(0)
    expect(clock.pendingTimers).toBe(0)
  })
})
