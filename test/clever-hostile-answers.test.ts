import {existsSync, mkdtempSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {UndiciHttpClient} from '../src/adapters/http/undici-http-client.js'
import {abortableSleep} from '../src/app/runtime.js'
import type {RunnerConfig} from '../src/core/config/config-types.js'
import type {HttpClient, HttpRequest, HttpResponse} from '../src/core/coordinator/http-port.js'
import {silentLogger} from '../src/core/logger.js'
import {cleverConfigSchema, type CleverConfig} from '../src/plugins/clever-docker/clever-config.js'
import {CleverDockerExecutor} from '../src/plugins/clever-docker/clever-executor.js'
import {assertNotGitOption, checkDeployUrl} from '../src/plugins/clever-docker/deploy-url.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'

/** Issue 12, item 1: an API answer must never run a command or send the organisation token elsewhere. */

const sim = new CleverSimulator({innerRunner: false})
let evil: Server
let evilUrl: string
const evilRequests: Array<{url: string; auth: string | undefined}> = []
beforeAll(async () => {
  await sim.start()
  sim.addOrg('orga_hostile', {token: 'cc-hostile-token-1'})
  evil = createServer((req, res) => {
    evilRequests.push({url: req.url ?? '', auth: req.headers.authorization})
    res.writeHead(401, {'www-authenticate': 'Basic realm="x"'}).end()
  })
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r))
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`
})
afterAll(async () => {
  await sim.stop()
  await new Promise<void>((r) => evil.close(() => r()))
})

/** Rewrites the Clever answers about applications, as a hostile or broken API would. */
class Rewriting implements HttpClient {
  private readonly inner = new UndiciHttpClient()
  constructor(private readonly rewrite: (app: Record<string, unknown>, req: HttpRequest) => void) {}
  async request(req: HttpRequest): Promise<HttpResponse> {
    const res = await this.inner.request(req)
    if (!/\/applications(\/[^/]+)?$/.test(new URL(req.url).pathname) || res.body === '' || res.status >= 400) return res
    const j = JSON.parse(res.body) as Record<string, unknown> | Array<Record<string, unknown>>
    for (const app of Array.isArray(j) ? j : [j]) this.rewrite(app, req)
    return {...res, body: JSON.stringify(j)}
  }
}

let seq = 0
function executor(http: HttpClient): CleverDockerExecutor {
  const token = `hostile${++seq}-runner-token`
  const cfg = cleverConfigSchema.parse({
    cc_api_url: sim.apiUrl,
    cc_orga_id: 'orga_hostile',
    cc_token: 'cc-hostile-token-1',
    cc_deployment_repo_wait_step: 0.02,
  })
  const runner: RunnerConfig<CleverConfig> = {
    index: 0,
    url: 'http://gitlab.invalid',
    token,
    executor: 'clever-docker',
    uniqueName: token.slice(0, 8),
    executorConfig: cfg,
    forwarded: {name: 'c', url: 'http://gitlab.invalid', token, executor: 'clever-docker'},
  }
  return new CleverDockerExecutor(runner, {
    now: Date.now,
    sleep: abortableSleep,
    addSecret: () => {},
    log: silentLogger,
    http,
    owner: {systemId: 'r_hostile', runner: token.slice(0, 8)},
  })
}

const job = (id: number) => ({id, token: `job-${id}-token`, variables: [{key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'XS'}]})

describe('hostile Clever Cloud answers', () => {
  it('a deployment URL that is a git option never reaches git: no command runs, the launch fails with a clear reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-pwn-'))
    const marker = join(dir, 'PWNED')
    const ex = executor(
      new Rewriting((app) => {
        app.deployment = {...(app.deployment as object), httpUrl: `--exec=touch ${marker}`}
      }),
    )
    const r = await ex.provision(job(1), {})
    const err = (await ex.launch(r, job(1), {}).catch((e: unknown) => e)) as Error & {code?: string}
    expect(err.code).toBe('clever_deploy_url')
    expect(err.message).toContain('starts with "-"')
    expect(existsSync(marker)).toBe(false)
    await ex.decommission(r, {})
  })

  it('the organisation token is never sent to a host the answer names', async () => {
    const ex = executor(
      new Rewriting((app) => {
        app.deployment = {...(app.deployment as object), httpUrl: `${evilUrl}/steal.git`}
      }),
    )
    const r = await ex.provision(job(2), {})
    const err = (await ex.launch(r, job(2), {}).catch((e: unknown) => e)) as Error & {code?: string}
    expect(err.code).toBe('clever_deploy_url')
    expect(evilRequests).toEqual([])
    await ex.decommission(r, {})
  })

  it('a git server redirect to another host is not followed: the token stays home', async () => {
    const inner = new UndiciHttpClient()
    const redirecting: HttpClient = {
      request: async (req) =>
        req.url.includes('/info/refs?service=git-receive-pack')
          ? {status: 302, headers: {location: `${evilUrl}/steal.git/info/refs?service=git-receive-pack`}, body: ''}
          : inner.request(req),
    }
    const ex = executor(redirecting)
    const r = await ex.provision(job(3), {})
    const err = (await ex.launch(r, job(3), {}).catch((e: unknown) => e)) as Error & {code?: string}
    expect(err.code).toBe('clever_deploy_url')
    expect(evilRequests).toEqual([])
    await ex.decommission(r, {})
  })

  it('a create answer without the fields we need is an error of that call, in one line; the app created is found by name', async () => {
    const ex = executor(
      new Rewriting((app, req) => {
        if (req.method === 'POST') delete app.instance
      }),
    )
    const r = await ex.provision(job(3), {})
    expect(r.id).toMatch(/^app_/)
    expect(r.weight).toBeGreaterThan(0)
    await ex.decommission(r, {})
    // Nothing to find by name: the error says what is missing, on one line.
    const broken = executor(
      new Rewriting((app, req) => {
        if (req.method === 'POST') delete app.instance
        if (req.method === 'GET') app.name = 'renamed'
      }),
    )
    const err = (await broken.provision(job(4), {}).catch((e: unknown) => e)) as Error & {code?: string}
    expect(err.code).toBe('clever_create-app')
    expect(err.message).toMatch(/instance: .*expected object/)
    expect(err.message).not.toContain('\n')
    for (const o of (await executor(new UndiciHttpClient()).listOwned({})).owned) expect(o.name).not.toContain('-4')
  })

  it('a recorded resource that cannot be read fails with one line, not a validation dump', () => {
    const ex = executor(new UndiciHttpClient())
    const err = (() => {
      try {
        ex.restore({launched: 'yes'})
      } catch (e) {
        return e as Error
      }
    })()!
    expect(err.message).toMatch(/^the recorded resource cannot be read: id: .*launched: /)
    expect(err.message).not.toContain('\n')
  })
})

describe('checkDeployUrl', () => {
  const api = 'https://api.clever-cloud.com/v2'
  it.each([
    ['https://push-n3-par-clevercloud-customers.services.clever-cloud.com/app_1.git', api, true],
    ['https://api.clever-cloud.com/git/app_1.git', api, true],
    ['http://127.0.0.1:8080/git/app_1.git', 'http://127.0.0.1:8080/v2', true],
    ['--upload-pack=touch /tmp/x', api, false],
    ['-u', api, false],
    ['ext::sh -c touch% /tmp/x', api, false],
    ['https://evil.example/app.git', api, false],
    ['https://clever-cloud.com.evil.example/app.git', api, false],
    ['https://user:pw@push-n3-par-clevercloud-customers.services.clever-cloud.com/a.git', api, false],
    ['http://push-n3-par-clevercloud-customers.services.clever-cloud.com/app_1.git', api, false],
    ['http://127.0.0.1:8080/git/app_1.git', api, false],
    ['http://127.0.0.1:9999/git/app_1.git', 'http://127.0.0.1:8080/v2', false],
    ['http://10.0.0.1:8080/git/app_1.git', 'http://10.0.0.1:8080/v2', false],
    ['file:///etc/passwd', api, false],
    ['', api, false],
  ])('%s (API %s): accepted = %s', (url, apiUrl, ok) => {
    const run = (): string => checkDeployUrl(url, apiUrl)
    if (ok) expect(run()).toBe(new URL(url).href)
    else expect(run).toThrow(/deployment URL that is refused/)
  })

  it('git never receives a value that starts with "-"', () => {
    expect(() => assertNotGitOption('--exec=id')).toThrow(/refused to pass a value starting with "-"/)
    expect(assertNotGitOption('https://x/y.git')).toBe('https://x/y.git')
  })
})
