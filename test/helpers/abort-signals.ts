import {vi} from 'vitest'

/**
 * How many AbortSignals `fn` makes: AbortController constructions and AbortSignal.any or
 * .timeout calls. Node keeps every AbortSignal alive through young-generation collections, so
 * code run at each progress check must make none (src/core/clock.ts, Clock.timer).
 */
export async function abortSignalsMadeBy(fn: () => Promise<unknown>): Promise<number> {
  const Original = globalThis.AbortController
  let made = 0
  globalThis.AbortController = class extends Original {
    constructor() {
      super()
      made++
    }
  }
  const any = vi.spyOn(AbortSignal, 'any')
  const timeout = vi.spyOn(AbortSignal, 'timeout')
  try {
    await fn()
    return made + any.mock.calls.length + timeout.mock.calls.length
  } finally {
    globalThis.AbortController = Original
    any.mockRestore()
    timeout.mockRestore()
  }
}
