import {existsSync, mkdtempSync, statSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'
import {Registry} from 'prom-client'

import {getFromSocket, startControlSocket} from '../../src/adapters/observability/control-socket.js'
import {controlSocketPath} from '../../src/adapters/observability/control-socket-path.js'
import {Redactor} from '../../src/core/redact.js'

const dispatcher = {snapshot: () => ({secret: 'tok-SeCrEt-123'}), isStopping: false} as never
const metrics = {registry: new Registry()} as never

describe('the control socket', () => {
  it('is named after the state file, mode 0600, serves /status (redacted) and /healthz, and goes away when closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-sock-'))
    const path = controlSocketPath(join(dir, 'a.state.json'))
    expect(path).toBe(join(dir, 'a.state.sock'))
    const redactor = new Redactor()
    redactor.add('tok-SeCrEt-123')
    const s = await startControlSocket(path, dispatcher, metrics, redactor)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const status = await getFromSocket(path, '/status')
    expect(status.status).toBe(200)
    expect(status.body).not.toContain('tok-SeCrEt-123')
    expect(await getFromSocket(path, '/healthz')).toEqual({status: 200, body: 'ok\n'})
    expect((await getFromSocket(path, '/nope')).status).toBe(404)
    await s.close()
    expect(existsSync(path)).toBe(false)
    await expect(getFromSocket(path, '/status')).rejects.toThrow()
  })

  it('replaces a socket left by a killed daemon, and refuses to remove a file that is not a socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-sock-'))
    const stale = join(dir, 'stale.sock')
    // A socket file already there: the caller holds the state file lock, so it can only be one
    // left by a daemon killed with -9 (node unlinks it on a clean close). Here, one still bound.
    const left = createServer()
    await new Promise<void>((r) => left.listen(stale, r))
    left.unref()
    const s = await startControlSocket(stale, dispatcher, metrics, new Redactor())
    expect((await getFromSocket(stale, '/healthz')).status).toBe(200)
    await s.close()
    const file = join(dir, 'file.sock')
    writeFileSync(file, 'not a socket')
    await expect(startControlSocket(file, dispatcher, metrics, new Redactor())).rejects.toThrow(
      'exists and is not a socket',
    )
  })
})
