import {appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {JobPayload, OwnerMarker} from '@heptapod-paas-runner/plugin-api'

import type {CloudBackend, MemoryResource} from './memory-cloud.js'

/**
 * A simulated PAAS kept in a directory, one JSON file per resource: it survives the daemon
 * being killed, so crash tests can look for orphans, and another process can play the inner runner.
 */
export class DirCloud implements CloudBackend {
  constructor(readonly dir: string) {
    mkdirSync(dir, {recursive: true})
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`)
  }

  findByName(name: string): MemoryResource | undefined {
    return this.get(name)
  }

  get(id: string): MemoryResource | undefined {
    try {
      return JSON.parse(readFileSync(this.path(id), 'utf8')) as MemoryResource
    } catch {
      return undefined
    }
  }

  create(name: string, flavor: string, weight: number, jobId: number, owner?: OwnerMarker): MemoryResource {
    const r: MemoryResource = {id: name, name, flavor, weight, launched: false, jobId, ...(owner ? {owner} : {})}
    try {
      // O_EXCL: two creations for one job can never both succeed.
      writeFileSync(this.path(name), JSON.stringify(r), {flag: 'wx'})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return this.get(name)!
      throw error
    }
    // Every real creation, for tests that check nothing was created twice.
    appendFileSync(join(this.dir, '.creations'), `${name}\n`)
    return r
  }

  markLaunched(id: string, job: JobPayload): void {
    const r = this.get(id)
    if (!r) throw new Error(`resource ${id} does not exist`)
    const tmp = `${this.path(id)}.tmp`
    writeFileSync(tmp, JSON.stringify({...r, launched: true, projectId: job.job_info?.project_id ?? null}))
    renameSync(tmp, this.path(id))
  }

  delete(id: string): boolean {
    try {
      unlinkSync(this.path(id))
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw error
    }
  }

  list(): MemoryResource[] {
    const out: MemoryResource[] = []
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue
      const r = this.get(f.slice(0, -5))
      if (r) out.push(r)
    }
    return out
  }

  checkFault(): void {}
}
