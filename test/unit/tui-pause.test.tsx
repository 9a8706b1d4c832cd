import {EventEmitter} from 'node:events'

import {afterEach, describe, expect, it, vi} from 'vitest'

import type {Daemon} from '../../src/app/daemon.js'
import {mountTui} from '../../src/tui/start-tui.js'
import {TuiModel} from '../../src/tui/tui-model.js'
import {Harness} from '../helpers/dispatcher-harness.js'
import {waitUntil} from '../helpers/wait.js'

/** A terminal for Ink: keys go in through `type()`, frames come out in `frames`. */
class FakeTty extends EventEmitter {
  isTTY = true
  columns = 120
  rows = 40
  frames: string[] = []
  private pending: string | null = null
  write = (s: string): boolean => {
    this.frames.push(s)
    return true
  }
  type(keys: string): void {
    this.pending = keys
    this.emit('readable')
    this.emit('data', keys)
  }
  read = (): string | null => {
    const p = this.pending
    this.pending = null
    return p
  }
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

const harnesses: Harness[] = []
afterEach(() => {
  vi.restoreAllMocks()
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
  }
})

describe('the operator pause, from the p key to the dispatcher (mountTui as `run --tui` uses it)', () => {
  it('p stops intake: no job is taken while paused; p again resumes and the job runs', async () => {
    const h = new Harness()
    harnesses.push(h)
    await h.start()
    // mountTui renders on the process's terminal: give it a fake one for the test.
    const tty = new FakeTty()
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(tty as unknown as typeof process.stdin)
    vi.spyOn(process, 'stdout', 'get').mockReturnValue(tty as unknown as typeof process.stdout)
    const daemon = {dispatcher: h.dispatcher, store: h.store, stop: async () => {}} as unknown as Daemon
    const quits: string[] = []
    const ui = mountTui(daemon, new TuiModel(), {onQuit: () => quits.push('quit'), onForce: () => quits.push('force')})
    try {
      // One key press, once Ink listens to the keyboard (a second press would resume).
      await waitUntil(() => tty.listenerCount('readable') > 0, 10_000, 'Ink listening to the keyboard')
      tty.type('p')
      await waitUntil(() => h.dispatcher.intakePaused, 10_000, 'the p key to pause intake')
      const job = h.gitlab.enqueue()
      const requests = h.gitlab.calls.requestJob
      await h.clock.advance(3_600_000)
      expect(job.status).toBe('pending')
      expect(h.gitlab.calls.requestJob).toBe(requests)
      expect(h.snapshot().runners[0]!.intake).toEqual({
        state: 'paused',
        reason: 'paused by the operator',
        blocker: {kind: 'operator'},
      })
      tty.type('p')
      await waitUntil(() => !h.dispatcher.intakePaused, 10_000, 'the p key to resume intake')
      await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running', 600_000, 'the job taken and running')
      expect(job.status).toBe('running')
      expect(quits).toEqual([])
    } finally {
      await ui.unmount()
    }
  })
})
