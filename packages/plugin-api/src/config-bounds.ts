import {z} from 'zod'

/**
 * A number of the configuration with a sane range, so that a value that validates also
 * behaves: timers stay below node's 24.8-day limit (beyond it `setTimeout` fires at once),
 * and no interval is so short that the daemon spins. The unit is in the message.
 */
export function bounded(o: {
  min: number
  max: number
  unit: 'seconds' | 'jobs'
  int?: boolean
  minExclusive?: boolean
}): z.ZodNumber {
  const what = `${o.int ? 'a whole number' : 'a number'} of ${o.unit}`
  const hint = o.unit === 'seconds' ? ` (${humanSeconds(o.max)})` : ''
  const message = o.minExclusive
    ? `must be ${what} above ${o.min} and at most ${o.max}${hint}`
    : `must be ${what} from ${o.min} to ${o.max}${hint}`
  const base = o.int ? z.number().int(message) : z.number()
  return (o.minExclusive ? base.gt(o.min, message) : base.min(o.min, message)).max(o.max, message)
}

function humanSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} h`
  if (s % 60 === 0) return `${s / 60} min`
  return `${s} s`
}
