import {createHmac, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage} from 'node:http'

/**
 * Credentials of one member of one or more organisations (clever-api.md §1): the original's
 * `token` scheme (with its git user name), an API token (Bearer), and/or an OAuth1 pair.
 */
export interface CleverOrgCredentials {
  /** The original's `Authorization: token …` scheme; also the git password, with `gitUser`. */
  token?: string
  /** Git user name that goes with `token` (the original's `cc_auth_user`); default `Jenkins`. */
  gitUser?: string
  /** API token (`Authorization: Bearer …`). Not a git password: Clever does not document it as one. */
  bearer?: string
  /** OAuth1: consumer key/secret and token/secret. Git takes the token as user and the token secret as password. */
  oauth?: {consumerKey: string; consumerSecret: string; token: string; tokenSecret: string}
}

export interface SimMember {
  userId: string
  email: string
  creds: CleverOrgCredentials
  orgs: Set<string>
}

export type AuthOutcome = {ok: true; member: SimMember} | {ok: false; reason: string}

/** RFC 3986 percent-encoding, as OAuth 1.0 wants it. */
export function pct(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

export function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** OAuth timestamps older or newer than this are refused (seconds), as signing servers do. */
const OAUTH_WINDOW_S = 600

/**
 * Checks the `Authorization` header of an API request against the members' credentials:
 * `token …`, `Bearer …`, or OAuth 1.0a with PLAINTEXT (the default when no method is given),
 * HMAC-SHA1 or HMAC-SHA512 signatures (base string over method, URL and query/OAuth parameters;
 * JSON bodies are not part of it). A nonce is accepted once per timestamp.
 */
export function authenticate(
  req: IncomingMessage,
  url: URL,
  members: readonly SimMember[],
  nowMs: number,
  seenNonces: Map<string, number>,
): AuthOutcome {
  const h = req.headers.authorization ?? ''
  if (!h) return {ok: false, reason: 'missing'}
  const find = (pred: (c: CleverOrgCredentials) => boolean): AuthOutcome => {
    const member = members.find((m) => pred(m.creds))
    return member ? {ok: true, member} : {ok: false, reason: 'invalid credentials'}
  }
  if (h.startsWith('token ')) return find((c) => c.token !== undefined && same(h.slice(6), c.token))
  if (h.startsWith('Bearer ')) return find((c) => c.bearer !== undefined && same(h.slice(7), c.bearer))
  if (!h.startsWith('OAuth ')) return {ok: false, reason: 'unknown authorization scheme'}
  const p: Record<string, string> = {}
  for (const m of h.slice(6).matchAll(/([\w-]+)="([^"]*)"/g)) {
    try {
      p[m[1]!] = decodeURIComponent(m[2]!)
    } catch {
      return {ok: false, reason: `malformed ${m[1]}`}
    }
  }
  const method = p.oauth_signature_method ?? 'PLAINTEXT'
  if (p.oauth_version !== undefined && p.oauth_version !== '1.0')
    return {ok: false, reason: 'unsupported oauth_version'}
  if (!p.oauth_consumer_key || !p.oauth_token || !p.oauth_signature)
    return {ok: false, reason: 'incomplete OAuth header'}
  const member = members.find(
    (m) => m.creds.oauth?.consumerKey === p.oauth_consumer_key && m.creds.oauth?.token === p.oauth_token,
  )
  if (!member) return {ok: false, reason: 'unknown consumer or token'}
  const o = member.creds.oauth!
  const key = `${pct(o.consumerSecret)}&${pct(o.tokenSecret)}`
  if (method === 'PLAINTEXT')
    return same(p.oauth_signature, key) ? {ok: true, member} : {ok: false, reason: 'bad signature'}
  const algo = method === 'HMAC-SHA512' ? 'sha512' : method === 'HMAC-SHA1' ? 'sha1' : undefined
  if (!algo) return {ok: false, reason: `unsupported signature method ${method}`}
  const ts = Number(p.oauth_timestamp)
  if (!Number.isInteger(ts) || !p.oauth_nonce) return {ok: false, reason: 'missing timestamp or nonce'}
  if (Math.abs(nowMs / 1000 - ts) > OAUTH_WINDOW_S) return {ok: false, reason: 'timestamp out of window'}
  for (const [n, at] of seenNonces) if (at < ts - OAUTH_WINDOW_S) seenNonces.delete(n)
  const nonceKey = `${p.oauth_consumer_key}:${p.oauth_token}:${ts}:${p.oauth_nonce}`
  if (seenNonces.has(nonceKey)) return {ok: false, reason: 'nonce already used'}
  const params: Array<[string, string]> = []
  for (const [k, v] of Object.entries(p))
    if (k.startsWith('oauth_') && k !== 'oauth_signature') params.push([pct(k), pct(v)])
  for (const [k, v] of url.searchParams) params.push([pct(k), pct(v)])
  params.sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : x > y ? 1 : 0) : a < b ? -1 : 1))
  const base = [
    req.method ?? 'GET',
    pct(`http://${(req.headers.host ?? '').toLowerCase()}${url.pathname}`),
    pct(params.map(([k, v]) => `${k}=${v}`).join('&')),
  ].join('&')
  const expected = createHmac(algo, key).update(base).digest('base64')
  if (!same(p.oauth_signature, expected)) return {ok: false, reason: 'bad signature'}
  seenNonces.set(nonceKey, ts)
  return {ok: true, member}
}

/**
 * Git over HTTPS takes Basic credentials (clever-api.md §5.2): the OAuth token as user and its
 * secret as password, or the organisation token with its configured user name (the original's
 * scheme). Returns the members the credentials belong to.
 */
export function gitMember(authorization: string | undefined, members: readonly SimMember[]): SimMember | undefined {
  if (!authorization?.startsWith('Basic ')) return undefined
  const [user, pass] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(/:(.*)/s)
  if (!user || !pass) return undefined
  return members.find((m) => {
    const c = m.creds
    if (c.oauth && same(user, c.oauth.token) && same(pass, c.oauth.tokenSecret)) return true
    return c.token !== undefined && same(user, c.gitUser ?? 'Jenkins') && same(pass, c.token)
  })
}
