import {
  PaasRunnerError,
  isHttpTransportError,
  type HttpClient,
  type HttpResponse,
} from '@heptapod-paas-runner/plugin-api'

/**
 * The client side of git's smart HTTP push (gitprotocol-http(5), gitprotocol-pack(5)), for the
 * one push a launch makes: create `refs/heads/master` on a fresh deployment repository. It goes
 * through the daemon's HTTP client (timeouts, abort signal, no credentials in any URL), in this
 * process: no `git` process per launch. clever-tools pushes with isomorphic-git, so Clever's git
 * servers take pushes from a client that is not the git program.
 */

const MASTER = 'refs/heads/master'
const ZERO_ID = '0'.repeat(40)
const AGENT = 'heptapod-paas-runner'
/** Answers are a few refs or a short report: anything larger is not a git server's. */
const MAX_ANSWER_BYTES = 1024 * 1024

export interface ReceivePackTarget {
  /** The repository URL, without credentials (`checkDeployUrl`). */
  url: string
  /** Base64 of `user:password`: a secret, sent as HTTP Basic auth only. */
  basicAuth: string
  http: HttpClient
  signal?: AbortSignal
  /**
   * Where a redirect of the first request may go: returns the URL to follow, or throws. git
   * follows redirects of that request (`http.followRedirects=initial`); credentials go along,
   * so the target must pass the same check as the URL itself. Without it, none is followed.
   */
  checkRedirect?(url: string): string
}

const MAX_REDIRECTS = 3
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])
const ADVERTISEMENT_PATH = '/info/refs?service=git-receive-pack'

/** What the server has: `master`'s commit when it exists, and the capabilities it offers. */
export interface Advertisement {
  master: string | undefined
  capabilities: Set<string>
}

/** One pkt-line: four hex digits of length (themselves included), then the data. */
export function pktLine(data: string | Buffer): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  if (body.length > 65_516) throw new Error('pkt-line too long')
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, '0'), 'latin1'), body])
}

export const FLUSH = Buffer.from('0000', 'latin1')

/** Splits pkt-lines; a flush (`0000`) is null. Throws on anything that is not pkt-lines. */
export function readPktLines(buf: Buffer): Array<Buffer | null> {
  const out: Array<Buffer | null> = []
  let at = 0
  while (at < buf.length) {
    const hex = buf.subarray(at, at + 4).toString('latin1')
    if (!/^[0-9a-f]{4}$/i.test(hex)) throw new Error(`not a pkt-line at byte ${at}: ${JSON.stringify(hex)}`)
    const len = Number.parseInt(hex, 16)
    if (len === 0) {
      out.push(null)
      at += 4
      continue
    }
    if (len < 4 || at + len > buf.length)
      throw new Error(`pkt-line length ${len} at byte ${at} does not fit the answer`)
    out.push(buf.subarray(at + 4, at + len))
    at += len
  }
  return out
}

/** The ref advertisement of `git-receive-pack` (`info/refs?service=git-receive-pack`). */
export function parseAdvertisement(body: Buffer): Advertisement {
  const lines = readPktLines(body)
  let i = 0
  // The smart HTTP answer starts with `# service=git-receive-pack` and a flush.
  if (lines[0] && lines[0].toString('utf8').startsWith('# service=')) {
    if (lines[0].toString('utf8').trimEnd() !== '# service=git-receive-pack')
      throw new Error(`not a receive-pack advertisement: ${lines[0].toString('utf8').trimEnd()}`)
    i = lines[1] === null ? 2 : 1
  }
  let master: string | undefined
  const capabilities = new Set<string>()
  let first = true
  for (; i < lines.length; i++) {
    const line = lines[i]
    if (line === null || line === undefined) break
    let text = line.toString('utf8').replace(/\n$/, '')
    if (first) {
      const nul = text.indexOf('\0')
      if (nul >= 0) {
        for (const c of text.slice(nul + 1).split(' ')) if (c) capabilities.add(c)
        text = text.slice(0, nul)
      }
      first = false
    }
    const m = /^([0-9a-f]{40}) (\S+)$/.exec(text)
    if (!m) throw new Error(`unreadable ref line: ${JSON.stringify(text.slice(0, 100))}`)
    if (m[2] === MASTER) master = m[1]
  }
  return {master, capabilities}
}

/** What receive-pack reported: `unpack ok` and `ok <ref>`, or why not; `remote` is what its hooks printed. */
export interface PushReport {
  unpack: string
  ref: {ok: true} | {ok: false; reason: string} | undefined
  remote: string[]
}

/** The report-status answer, demultiplexed first when side-band-64k was asked for. */
export function parseReport(body: Buffer, sideBand: boolean): PushReport {
  const remote: string[] = []
  let status = body
  if (sideBand) {
    const data: Buffer[] = []
    for (const line of readPktLines(body)) {
      if (line === null || line.length === 0) continue
      const band = line[0]
      const payload = line.subarray(1)
      if (band === 1) data.push(payload)
      else if (band === 2)
        remote.push(
          ...payload
            .toString('utf8')
            .split(/[\r\n]+/)
            .filter(Boolean),
        )
      else if (band === 3) throw new Error(`the git server failed: ${payload.toString('utf8').trim()}`)
      else throw new Error(`unknown side band ${band}`)
    }
    status = Buffer.concat(data)
  }
  let unpack = ''
  let ref: PushReport['ref']
  for (const line of readPktLines(status)) {
    if (line === null) continue
    const text = line.toString('utf8').replace(/\n$/, '')
    if (text.startsWith('unpack ')) unpack = text.slice('unpack '.length)
    else if (text === `ok ${MASTER}`) ref = {ok: true}
    else if (text.startsWith(`ng ${MASTER} `)) ref = {ok: false, reason: text.slice(`ng ${MASTER} `.length)}
  }
  return {unpack, ref, remote}
}

/**
 * GET `info/refs?service=git-receive-pack`: where `master` is, what the server can do, and the
 * repository URL the push goes to (another one when this request was redirected, as git does).
 */
export async function advertisement(target: ReceivePackTarget): Promise<Advertisement & {url: string}> {
  let url = base(target.url)
  for (let hops = 0; ; hops++) {
    const res = await exchange(
      target,
      'GET',
      `${url}${ADVERTISEMENT_PATH}`,
      {},
      'application/x-git-receive-pack-advertisement',
      true,
    )
    if (REDIRECTS.has(res.status)) {
      url = redirected(target, `${url}${ADVERTISEMENT_PATH}`, res.headers.location, hops)
      continue
    }
    try {
      return {...parseAdvertisement(Buffer.from(res.body, 'utf8')), url}
    } catch (error) {
      throw pushError(`the ref advertisement cannot be read: ${(error as Error).message}`)
    }
  }
}

/** The repository URL a redirect leads to, once checked; the answer's Location is not trusted. */
function redirected(target: ReceivePackTarget, from: string, location: string | undefined, hops: number): string {
  if (!location) throw pushError('ref advertisement: a redirect without a Location')
  let to: URL
  try {
    to = new URL(location, from)
  } catch {
    throw pushError('ref advertisement: a redirect to something that is not a URL')
  }
  const shown = `${to.origin}${to.pathname}`
  if (!target.checkRedirect) throw pushError(`ref advertisement: redirected to ${shown}, not followed`)
  if (hops + 1 > MAX_REDIRECTS) throw pushError(`ref advertisement: more than ${MAX_REDIRECTS} redirects`)
  const href = target.checkRedirect(to.href)
  // As git: the new location must still be the advertisement of a repository.
  if (!href.endsWith(ADVERTISEMENT_PATH))
    throw pushError(`ref advertisement: redirected to ${shown}, not a git repository`)
  return base(href.slice(0, -ADVERTISEMENT_PATH.length))
}

/**
 * Creates `master` at `commit`, sending `pack` (old id zero: the server refuses it if `master`
 * exists by then, so the check and the update are one step on its side).
 */
export async function createMaster(
  target: ReceivePackTarget,
  commit: string,
  pack: Buffer,
  capabilities: ReadonlySet<string>,
): Promise<PushReport> {
  if (!capabilities.has('report-status'))
    throw pushError('the git server does not offer report-status: the outcome of a push could not be known')
  const sideBand = capabilities.has('side-band-64k')
  const caps = ['report-status', ...(sideBand ? ['side-band-64k'] : []), `agent=${AGENT}`].join(' ')
  const body = Buffer.concat([pktLine(`${ZERO_ID} ${commit} ${MASTER}\0 ${caps}\n`), FLUSH, pack])
  const res = await exchange(
    target,
    'POST',
    `${base(target.url)}/git-receive-pack`,
    {'content-type': 'application/x-git-receive-pack-request'},
    'application/x-git-receive-pack-result',
    false,
    body,
  )
  try {
    return parseReport(Buffer.from(res.body, 'utf8'), sideBand)
  } catch (error) {
    throw pushError(`the push answer cannot be read: ${(error as Error).message}`)
  }
}

function base(url: string): string {
  return url.replace(/\/+$/, '')
}

/** One request; any answer but a 200 of the expected content type is a `git_push` failure that says why. */
async function exchange(
  target: ReceivePackTarget,
  method: 'GET' | 'POST',
  url: string,
  headers: Record<string, string>,
  expectType: string,
  redirects = false,
  body?: Buffer,
): Promise<HttpResponse> {
  const what = method === 'GET' ? 'ref advertisement' : 'push'
  let res: HttpResponse
  try {
    res = await target.http.request({
      method,
      url,
      headers: {
        ...headers,
        authorization: `Basic ${target.basicAuth}`,
        'user-agent': `git/${AGENT}`,
        accept: expectType,
      },
      ...(body ? {body} : {}),
      ...(target.signal ? {signal: target.signal} : {}),
      maxBodyBytes: MAX_ANSWER_BYTES,
    })
  } catch (error) {
    if (target.signal?.aborted) throw error
    const retryable = isHttpTransportError(error) ? error.retryable : false
    throw pushError(`${what}: ${(error as Error).message}`, {retryable, cause: error})
  }
  if (res.status === 401)
    throw pushError(`${what}: authentication failed (HTTP 401): check the git credentials of the organisation`)
  if (redirects && REDIRECTS.has(res.status)) return res
  if (res.status !== 200) {
    throw pushError(`${what}: HTTP ${res.status}${shortText(res.body)}`, {
      retryable: res.status >= 500 || res.status === 429,
    })
  }
  const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim()
  if (type !== expectType)
    throw pushError(
      `${what}: the server answered ${type || 'no content type'}, not ${expectType} (not a smart git HTTP server?)`,
    )
  return res
}

/** Every failure of a push says so first, then why; `git_push` is its code. */
export function pushError(why: string, opts: {retryable?: boolean; cause?: unknown} = {}): PaasRunnerError {
  return new PaasRunnerError('git_push', `git push to the deployment repository failed: ${why}`, {
    retryable: false,
    ...opts,
  })
}

function shortText(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim().slice(0, 200)
  return text ? `: ${text}` : ''
}
