import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {lockStateFile} from '../../src/adapters/state/state-file-lock.js'
import {defaultStateFile} from '../../src/app/runtime.js'

const dir = (): string => mkdtempSync(join(tmpdir(), 'hpr-lock-'))

/** A PID that does not run: a child that has exited. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''])
  await new Promise((r) => c.once('exit', r))
  return c.pid!
}

describe('state file lock', () => {
  it('is exclusive while held, and released on release', async () => {
    const state = join(dir(), 's.json')
    const lock = await lockStateFile(state)
    await expect(lockStateFile(state)).rejects.toMatchObject({
      code: 'state_locked',
      message: expect.stringContaining(`PID ${process.pid}`),
    })
    await lock.release()
    expect(existsSync(`${state}.lock`)).toBe(false)
    await (await lockStateFile(state)).release()
  })

  it('refuses a lock held by another live process, naming the state file', async () => {
    const state = join(dir(), 's.json')
    const other = spawn('sleep', ['30'])
    try {
      writeFileSync(`${state}.lock`, JSON.stringify({pid: other.pid, host: hostname(), since: 'now'}))
      await expect(lockStateFile(state)).rejects.toThrow(
        new RegExp(`${state}: the state file is in use by another daemon \\(PID ${other.pid}`),
      )
    } finally {
      other.kill('SIGKILL')
    }
  })

  it('takes over the lock of a dead process (kill -9), and a torn lock', async () => {
    const state = join(dir(), 's.json')
    const pid = await deadPid()
    writeFileSync(`${state}.lock`, JSON.stringify({pid, host: hostname(), since: 'then'}))
    const lock = await lockStateFile(state)
    expect(lock.tookOverFrom).toBe(pid)
    expect(JSON.parse(readFileSync(`${state}.lock`, 'utf8')).pid).toBe(process.pid)
    await lock.release()
    writeFileSync(`${state}.lock`, '{"pid": 12')
    await (await lockStateFile(state)).release()
  })

  it('takes over a lock whose PID was reused by another program', async () => {
    const state = join(dir(), 's.json')
    const other = spawn('sleep', ['30'])
    try {
      // Same PID, but not the start time the lock recorded: not the holder any more.
      writeFileSync(`${state}.lock`, JSON.stringify({pid: other.pid, host: hostname(), since: 'then', startTicks: 1}))
      const lock = await lockStateFile(state)
      expect(lock.tookOverFrom).toBe(other.pid)
      await lock.release()
    } finally {
      other.kill('SIGKILL')
    }
  })

  it('never takes over a lock of another host (a shared disk)', async () => {
    const state = join(dir(), 's.json')
    writeFileSync(`${state}.lock`, JSON.stringify({pid: await deadPid(), host: 'another-host.example', since: 'then'}))
    await expect(lockStateFile(state)).rejects.toThrow(/another-host\.example/)
  })
})

describe('default state file', () => {
  it('is <config name>.state.json next to the config, so two configs of a folder never share one', () => {
    const d = dir()
    expect(defaultStateFile(join(d, 'a.toml'))).toEqual({path: join(d, 'a.state.json'), legacy: false})
    expect(defaultStateFile(join(d, 'b.toml')).path).toBe(join(d, 'b.state.json'))
  })

  it('keeps using the earlier default paas-runner-state.json when it exists and the new one does not', () => {
    const d = dir()
    writeFileSync(join(d, 'paas-runner-state.json'), '')
    expect(defaultStateFile(join(d, 'a.toml'))).toEqual({path: join(d, 'paas-runner-state.json'), legacy: true})
    writeFileSync(join(d, 'a.state.json'), '')
    expect(defaultStateFile(join(d, 'a.toml'))).toEqual({path: join(d, 'a.state.json'), legacy: false})
  })
})
