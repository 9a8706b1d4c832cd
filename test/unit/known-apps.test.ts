import {describe, expect, it} from 'vitest'

import type {CleverAppWire} from '../../src/plugins/clever-docker/clever-client.js'
import {KnownApps} from '../../src/plugins/clever-docker/known-apps.js'

const app = (name: string, id = `app_${name}`): CleverAppWire => ({id, name}) as CleverAppWire

/** A listing the test answers by hand; `calls` counts them. */
function organisation(apps: CleverAppWire[] = []) {
  const waiting: Array<{resolve(): void; reject(e: Error): void}> = []
  const o = {
    apps,
    calls: 0,
    hold: false,
    list: async (): Promise<CleverAppWire[]> => {
      o.calls++
      if (o.hold) await new Promise<void>((resolve, reject) => waiting.push({resolve, reject}))
      return [...o.apps]
    },
    release: () => waiting.splice(0).forEach((w) => w.resolve()),
    fail: (e: Error) => waiting.splice(0).forEach((w) => w.reject(e)),
  }
  return o
}

describe('known apps of an organisation (one listing, not one per provision)', () => {
  it('lists once after start, shared by concurrent lookups; what it holds (an app made before a crash) is found', async () => {
    const org = organisation([app('hpd-job-r-1'), app('someone-else')])
    const known = new KnownApps('hpd-job-r-', org.list)
    org.hold = true
    const lookups = [known.find('hpd-job-r-1'), known.find('hpd-job-r-2'), known.find('hpd-job-r-3')]
    org.release()
    expect((await Promise.all(lookups)).map((a) => a?.id)).toEqual(['app_hpd-job-r-1', undefined, undefined])
    expect(await known.find('hpd-job-r-4')).toBeUndefined()
    expect(org.calls).toBe(1)
  })

  it('knows its own creates without listing again', async () => {
    const org = organisation()
    const known = new KnownApps('hpd-job-r-', org.list)
    expect(await known.find('hpd-job-r-5')).toBeUndefined()
    known.creating('hpd-job-r-5')
    known.created(app('hpd-job-r-5'))
    expect((await known.find('hpd-job-r-5'))?.id).toBe('app_hpd-job-r-5')
    known.deleted('app_hpd-job-r-5')
    expect(await known.find('hpd-job-r-5')).toBeUndefined()
    expect(org.calls).toBe(1)
  })

  it('a create that failed without an answer makes the next lookup of that name list again (the app may exist)', async () => {
    const org = organisation()
    const known = new KnownApps('hpd-job-r-', org.list)
    await known.find('hpd-job-r-6')
    known.creating('hpd-job-r-6')
    known.createFailed('hpd-job-r-6')
    org.apps.push(app('hpd-job-r-6', 'app_ghost')) // made on Clever's side, answer lost
    expect((await known.find('hpd-job-r-6'))?.id).toBe('app_ghost')
    expect(org.calls).toBe(2)
    // Settled: no listing for it any more.
    await known.find('hpd-job-r-6')
    expect(org.calls).toBe(2)
  })

  it('a create that fails while a listing is under way is still looked for after that listing', async () => {
    const org = organisation()
    const known = new KnownApps('hpd-job-r-', org.list)
    await known.find('hpd-job-r-0')
    known.creating('hpd-job-r-7')
    known.createFailed('hpd-job-r-7')
    org.hold = true
    const first = known.find('hpd-job-r-7') // lists again for 7
    // Meanwhile the create of 8 is sent and fails: this listing may have been made before it.
    known.creating('hpd-job-r-8')
    known.createFailed('hpd-job-r-8')
    org.release()
    expect(await first).toBeUndefined()
    org.hold = false
    org.apps.push(app('hpd-job-r-8', 'app_late')) // Clever's list shows it now
    expect((await known.find('hpd-job-r-8'))?.id).toBe('app_late')
  })

  it('a failed listing is no listing: the next lookup lists again', async () => {
    const org = organisation([app('hpd-job-r-9')])
    const known = new KnownApps('hpd-job-r-', org.list)
    org.hold = true
    const failed = known.find('hpd-job-r-9')
    org.fail(new Error('HTTP 503'))
    await expect(failed).rejects.toThrow('HTTP 503')
    org.hold = false
    expect((await known.find('hpd-job-r-9'))?.id).toBe('app_hpd-job-r-9')
    expect(org.calls).toBe(2)
  })

  it("one job's abort ends only its own wait, not the shared listing", async () => {
    const org = organisation([app('hpd-job-r-10')])
    const known = new KnownApps('hpd-job-r-', org.list)
    org.hold = true
    const ac = new AbortController()
    const canceled = known.find('hpd-job-r-11', ac.signal)
    const other = known.find('hpd-job-r-10')
    ac.abort(new Error('job canceled'))
    await expect(canceled).rejects.toThrow('job canceled')
    org.release()
    expect((await other)?.id).toBe('app_hpd-job-r-10')
    expect(org.calls).toBe(1)
  })
})
