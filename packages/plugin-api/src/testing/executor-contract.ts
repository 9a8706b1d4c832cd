import {describe, expect, it} from 'vitest'

import type {Executor, Resource} from '../executor.js'
import {jobIdFromResourceName, resourceName} from '../names.js'
import type {JobPayload} from '../job-payload.js'

/**
 * Weights of the usual sizes, written down independently of `flavorWeight` (computed with bc),
 * so that a wrong formula in the core cannot agree with itself. Other sizes are checked against
 * the formula written out here.
 */
const KNOWN_WEIGHTS: ReadonlyMap<number, number> = new Map([
  [512, 0.42044820762686],
  [1024, 1],
  [2048, 2.3784142300054],
  [4096, 5.6568542494924],
  [8192, 13.454342644059],
  [12288, 22.33451661845],
  [16384, 32],
  [24576, 53.120732145615],
  [32768, 76.109255360174],
  [65536, 181.01933598376],
])

function expectedWeight(ramMiB: number): number {
  return KNOWN_WEIGHTS.get(ramMiB) ?? Math.pow(ramMiB / 1024, 5 / 4)
}

/** What a plugin provides to run the contract against its executor. */
export interface ContractFixture {
  executor: Executor
  /** A job payload this executor accepts, with its default flavor. */
  job(id: number): JobPayload
  /** Secrets (runner token, PAAS credentials) that must never appear in a serialised resource. */
  secrets: string[]
  /** A second executor instance over the same PAAS, as after a restart. */
  reopen?(): Promise<Executor>
  /**
   * The same runner served by another daemon (another system id) over the same PAAS: the
   * ownership tests check that neither daemon ever takes the other's resources.
   */
  otherDaemon?(): Promise<Executor>
  cleanup?(): Promise<void>
}

/**
 * The executor contract every executor plugin must pass. Call it from a vitest file:
 * `executorContract('my-executor', async () => ({executor, job, secrets}))`.
 * Each test gets a fresh fixture.
 */
export function executorContract(name: string, setup: () => Promise<ContractFixture>): void {
  const withFixture = (fn: (f: ContractFixture) => Promise<void>) => async () => {
    const f = await setup()
    await f.executor.ready?.()
    try {
      await fn(f)
    } finally {
      await f.cleanup?.()
    }
  }

  describe(`executor contract: ${name}`, () => {
    it(
      'lists flavors whose weight is (RAM GiB)^1.25, and a min requestable weight among them',
      withFixture(async ({executor}) => {
        const flavors = await executor.flavors()
        expect(flavors.size).toBeGreaterThan(0)
        for (const [key, f] of flavors) {
          expect(f.name).toBe(key)
          expect(f.weight).toBeCloseTo(expectedWeight(f.ramMiB), 9)
        }
        const min = await executor.minRequestableWeight()
        expect([...flavors.values()].some((f) => Math.abs(f.weight - min) < 1e-9)).toBe(true)
      }),
    )

    it(
      'weighs a job with one of its flavors',
      withFixture(async ({executor, job}) => {
        const w = await executor.expectedWeight(job(101))
        const weights = [...(await executor.flavors()).values()].map((f) => f.weight)
        expect(weights.some((x) => Math.abs(x - w) < 1e-9)).toBe(true)
      }),
    )

    it(
      'provisions a resource named hpd-job-<unique name>-<job id>, reported before provision returns',
      withFixture(async ({executor, job}) => {
        const seen: Resource[] = []
        const r = await executor.provision(job(102), {onCreated: async (c) => void seen.push(c)})
        expect(r.name).toBe(resourceName(executor.uniqueName, 102))
        expect(jobIdFromResourceName(executor.uniqueName, r.name)).toBe(102)
        expect(seen.map((s) => s.id)).toEqual([r.id])
        expect(r.launched).toBe(false)
        expect(r.weight).toBeGreaterThan(0)
      }),
    )

    it(
      'provisioning is idempotent per job',
      withFixture(async ({executor, job}) => {
        const a = await executor.provision(job(103), {})
        const b = await executor.provision(job(103), {})
        expect(b.id).toBe(a.id)
        const owned = (await executor.listOwned({})).owned.filter((o) => o.jobId === 103)
        expect(owned.map((o) => o.id)).toEqual([a.id])
      }),
    )

    it(
      'launch marks the resource launched and is idempotent',
      withFixture(async ({executor, job}) => {
        const j = job(104)
        const r = await executor.provision(j, {})
        const l1 = await executor.launch(r, j, {})
        expect(l1.launched).toBe(true)
        const l2 = await executor.launch(l1, j, {})
        expect(l2.launched).toBe(true)
        expect(l2.id).toBe(r.id)
      }),
    )

    it(
      "list-owned finds what provision created, and only this runner's resources",
      withFixture(async ({executor, job}) => {
        const a = await executor.provision(job(105), {})
        const b = await executor.provision(job(106), {})
        const {owned} = await executor.listOwned({})
        expect(owned.map((o) => o.id).sort()).toEqual([a.id, b.id].sort())
        for (const o of owned) expect(o.name.startsWith(`hpd-job-${executor.uniqueName}-`)).toBe(true)
      }),
    )

    it(
      "lists only resources whose ownership marker is ours; another daemon's are in neither list",
      withFixture(async ({executor, job, otherDaemon}) => {
        if (!otherDaemon) return
        const other = await otherDaemon()
        await other.ready?.()
        const theirs = await other.provision(job(110), {})
        const ours = await executor.provision(job(111), {})
        const listing = await executor.listOwned({})
        expect(listing.owned.map((o) => o.id)).toEqual([ours.id])
        expect(listing.unmarked.map((o) => o.id)).not.toContain(theirs.id)
        expect((await other.listOwned({})).owned.map((o) => o.id)).toEqual([theirs.id])
        await other.decommission(theirs, {})
      }),
    )

    it(
      'never adopts a resource of the same name that another daemon owns',
      withFixture(async ({executor, job, otherDaemon}) => {
        if (!otherDaemon) return
        const other = await otherDaemon()
        await other.ready?.()
        const theirs = await other.provision(job(112), {})
        await expect(executor.provision(job(112), {})).rejects.toMatchObject({code: 'name_taken'})
        expect((await other.listOwned({})).owned.map((o) => o.id)).toEqual([theirs.id])
        await other.decommission(theirs, {})
      }),
    )

    it(
      'decommission is idempotent: deleted, then absent',
      withFixture(async ({executor, job}) => {
        const r = await executor.provision(job(107), {})
        expect(await executor.decommission(r, {})).toBe('deleted')
        expect(await executor.decommission(r, {})).toBe('absent')
        expect((await executor.listOwned({})).owned.some((o) => o.id === r.id)).toBe(false)
      }),
    )

    it(
      'serialises a resource to JSON without secrets and restores it',
      withFixture(async ({executor, job, secrets, reopen}) => {
        const j = job(108)
        const r = await executor.launch(await executor.provision(j, {}), j, {})
        const text = JSON.stringify(executor.serialise(r))
        for (const s of secrets) expect(text).not.toContain(s)
        const other = reopen ? await reopen() : executor
        const back = other.restore(JSON.parse(text))
        expect({
          id: back.id,
          name: back.name,
          weight: back.weight,
          launched: back.launched,
          flavor: back.flavor,
        }).toEqual({
          id: r.id,
          name: r.name,
          weight: r.weight,
          launched: r.launched,
          flavor: r.flavor,
        })
        // A restored resource can be deleted, as after a restart.
        expect(await other.decommission(back, {})).toBe('deleted')
      }),
    )

    it(
      'refuses to restore a dump it cannot read',
      withFixture(async ({executor}) => {
        expect(() => executor.restore({nonsense: true})).toThrow()
        expect(() => executor.restore(null)).toThrow()
      }),
    )

    it(
      'honours an aborted signal',
      withFixture(async ({executor, job}) => {
        const ac = new AbortController()
        ac.abort(new Error('shutdown'))
        await expect(executor.provision(job(109), {signal: ac.signal})).rejects.toThrow()
        expect((await executor.listOwned({})).owned.some((o) => o.jobId === 109)).toBe(false)
      }),
    )
  })
}
