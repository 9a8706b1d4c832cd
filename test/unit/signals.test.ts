import {describe, expect, it, vi} from 'vitest'

import {hangUpSignal, stopSignals} from '../../src/app/signals.js'

describe('signals (src/app/signals.ts)', () => {
  it('the first stop signal asks for a graceful stop, the second forces; dispose removes the handlers', async () => {
    const onFirst = vi.fn()
    const onForce = vi.fn()
    const before = process.listenerCount('SIGUSR2')
    const s = stopSignals({signals: ['SIGUSR2'], onFirst, onForce})
    process.emit('SIGUSR2', 'SIGUSR2')
    await expect(s.stopRequested).resolves.toBe('SIGUSR2')
    expect(onFirst).toHaveBeenCalledWith('SIGUSR2')
    expect(onForce).not.toHaveBeenCalled()
    process.emit('SIGUSR2', 'SIGUSR2')
    expect(onForce).toHaveBeenCalledTimes(1)
    expect(onFirst).toHaveBeenCalledTimes(1)
    s.dispose()
    expect(process.listenerCount('SIGUSR2')).toBe(before)
  })

  it('a SIGHUP while the daemon starts is replayed once it is ready, never lost nor doubled', () => {
    const reload = vi.fn()
    const h = hangUpSignal(reload)
    process.emit('SIGHUP', 'SIGHUP')
    process.emit('SIGHUP', 'SIGHUP')
    expect(reload).not.toHaveBeenCalled()
    h.ready()
    expect(reload).toHaveBeenCalledTimes(1)
    process.emit('SIGHUP', 'SIGHUP')
    expect(reload).toHaveBeenCalledTimes(2)
    h.dispose()
  })
})
