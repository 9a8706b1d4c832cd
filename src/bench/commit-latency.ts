/**
 * State commit latency with many tracked jobs, and its floor: a bare fsync'd append of the same
 * bytes to a file of the same disk, measured in the same loop (interleaved, so both see the same
 * disk and the same load).
 */
import {constants, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {join, resolve} from 'node:path'

import {FsStateFile} from '../adapters/state/fs-state-file.js'
import type {JobRecord} from '../core/state/job-record.js'
import {StateStore} from '../core/state/state-store.js'
import {percentile} from './stats.js'

const REPO = resolve(import.meta.dirname, '../..')

export interface CommitLatency {
  tracked: number
  commits: number
  p50: number
  p99: number
  max: number
  /** The bare fsync'd append of the same bytes. */
  floorP50: number
  floorP99: number
  fileKiB: number
}

/**
 * `tracked` running jobs in the store; then `commits` changes of a job going through its
 * write-ahead steps with its payload, each awaited (put → durable), and after each the same
 * bytes appended and fdatasync'd to a bare file.
 */
export async function commitLatency(tracked: number, commits: number): Promise<CommitLatency> {
  const dir = mkdtempSync(join(REPO, '.bench-state-'))
  try {
    const path = join(dir, 'state.json')
    const {store} = await StateStore.open(new FsStateFile(path), {now: Date.now})
    const payload = JSON.parse(readFileSync(join(REPO, 'test/fixtures/job-payload.json'), 'utf8')) as Record<
      string,
      unknown
    >
    const records: JobRecord[] = []
    for (let i = 0; i < tracked; i++) {
      const r: JobRecord = {
        runner: 'benchrun',
        jobId: i,
        jobToken: `glcbt-${i}`,
        phase: 'running',
        weight: 5.657,
        expectedWeight: 5.657,
        traceOffset: 0,
        acquiredAt: Date.now(),
        phaseSince: Date.now(),
        resourceId: `app_${i}`,
        resource: {id: `app_${i}`, name: `hpd-job-benchrun-${i}`, weight: 5.657, launched: true},
      }
      records.push(r)
      await store.put(r)
    }
    const bare = await open(join(dir, 'bare.log'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600)
    const lat: number[] = []
    const floor: number[] = []
    for (let i = 0; i < commits; i++) {
      const r = {
        ...records[i % tracked]!,
        phase: 'provisioning' as const,
        payload: {...payload, id: i, token: `glcbt-${i}`} as never,
      }
      const t0 = performance.now()
      await store.put(r)
      lat.push(performance.now() - t0)
      // The same bytes as the commit above: its payload line and its record line.
      const line = `${JSON.stringify({t: 'payload', k: `benchrun/${i}`, p: r.payload})}\n${JSON.stringify({t: 'put', r: {...r, payload: undefined, hasPayload: true}})}\n`
      const t1 = performance.now()
      await bare.write(line)
      await bare.datasync()
      floor.push(performance.now() - t1)
    }
    await bare.close()
    const fileKiB = readFileSync(path).length / 1024
    await store.close()
    return {
      tracked,
      commits,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      max: Math.max(...lat),
      floorP50: percentile(floor, 50),
      floorP99: percentile(floor, 99),
      fileKiB,
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
