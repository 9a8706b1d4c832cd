import type {z} from 'zod'

import {
  DEFAULT_RETRY_POLICY,
  PaasRunnerError,
  RateLimitGate,
  isHttpTransportError,
  isRetryableStatus,
  retryDelayMs,
  serverRequestedDelayMs,
  type HttpClient,
  type HttpResponse,
  type HttpTransportError,
  type RateLimitEpisode,
} from '@heptapod-paas-runner/plugin-api'
import {
  appAnswer,
  appsAnswer,
  createdAppAnswer,
  describeAnswerIssues,
  flavorsAnswer,
  instancesAnswer,
  type CleverAppWire,
  type CleverFlavorWire,
  type CleverRuntimeWire,
} from './clever-answers.js'

const MIB = 1024 * 1024
/** Deadline of one attempt, headers and body together. */
const CALL_DEADLINE_MS = 60_000

/**
 * One gate per Clever Cloud API (base URL), shared by every runner of the process: a rate limit
 * applies to the organisation's credentials, whichever runner uses them.
 */
const gates = new Map<string, RateLimitGate>()

/** How the organisation's credential is sent (clever-api.md §1). */
export type CleverAuth =
  | {scheme: 'token'; token: string}
  | {scheme: 'bearer'; token: string}
  | {scheme: 'oauth1'; consumerKey: string; consumerSecret: string; token: string; tokenSecret: string}

/** A Clever Cloud API error, with Clever's code (`id`) when the body had one. */
export class CleverApiError extends PaasRunnerError {
  /** A success status with an answer that does not fit its schema (the call may have had its effect). */
  readonly malformed: boolean

  constructor(
    readonly action: string,
    readonly status: number | undefined,
    readonly cleverCode: number | undefined,
    detail: string,
    opts: {resourceId?: string; cause?: unknown; malformed?: boolean} = {},
  ) {
    const {malformed, ...rest} = opts
    super(
      `clever_${action}`,
      `Clever Cloud API, ${action}: ${status === undefined ? '' : `HTTP ${status}, `}${cleverCode === undefined ? '' : `error ${cleverCode}, `}${detail}`,
      {
        retryable: !malformed && (status === undefined || isRetryableStatus(status)),
        ...rest,
      },
    )
    this.malformed = malformed ?? false
  }
}

export type {CleverAppWire, CleverFlavorWire, CleverRuntimeWire} from './clever-answers.js'

/**
 * The Clever Cloud API (v2), over the HttpClient port. Idempotent calls (GET, PUT, DELETE) are
 * retried on 408/429/5xx and network errors; a create never is (the caller looks the app up by
 * name after an ambiguous failure).
 */
export class CleverClient {
  constructor(
    private readonly o: {
      http: HttpClient
      baseUrl: string
      sleep(ms: number, signal?: AbortSignal): Promise<void>
      now(): number
      random(): number
      onExchange?(endpoint: string, outcome: number | 'network'): void
      /** Once per rate-limit episode of an organisation and endpoint: a log line, a metric. */
      onRateLimited?(e: RateLimitEpisode): void
    },
  ) {
    const base = o.baseUrl.replace(/\/+$/, '')
    this.gate = gates.get(base) ?? new RateLimitGate({now: o.now, sleep: o.sleep})
    gates.set(base, this.gate)
  }

  private readonly gate: RateLimitGate

  async flavors(context: string, signal?: AbortSignal): Promise<CleverFlavorWire[]> {
    return checked(
      'get-available-flavors',
      flavorsAnswer,
      await this.json(
        'get-available-flavors',
        'GET',
        `/products/flavors?context=${encodeURIComponent(context)}`,
        undefined,
        undefined,
        signal,
      ),
    )
  }

  async instances(signal?: AbortSignal): Promise<CleverRuntimeWire[]> {
    return checked(
      'get-instance-type',
      instancesAnswer,
      await this.json('get-instance-type', 'GET', '/products/instances', undefined, undefined, signal),
    )
  }

  async createApp(
    orga: string,
    auth: CleverAuth,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<CleverAppWire> {
    return checked(
      'create-app',
      createdAppAnswer,
      await this.json('create-app', 'POST', `/organisations/${enc(orga)}/applications`, auth, body, signal, false),
    )
  }

  async listApps(orga: string, auth: CleverAuth, signal?: AbortSignal): Promise<CleverAppWire[]> {
    return checked(
      'list-apps',
      appsAnswer,
      await this.json('list-apps', 'GET', `/organisations/${enc(orga)}/applications`, auth, undefined, signal),
    )
  }

  async getApp(orga: string, auth: CleverAuth, appId: string, signal?: AbortSignal): Promise<CleverAppWire> {
    return checked(
      'get-app',
      appAnswer,
      await this.json(
        'get-app',
        'GET',
        `/organisations/${enc(orga)}/applications/${enc(appId)}`,
        auth,
        undefined,
        signal,
      ),
    )
  }

  async putEnv(
    orga: string,
    auth: CleverAuth,
    appId: string,
    env: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.json('put-env', 'PUT', `/organisations/${enc(orga)}/applications/${enc(appId)}/env`, auth, env, signal)
  }

  /** `absent` for 404 / error 4004: already gone counts as done. */
  async deleteApp(orga: string, auth: CleverAuth, appId: string, signal?: AbortSignal): Promise<'deleted' | 'absent'> {
    try {
      await this.json(
        'delete-app',
        'DELETE',
        `/organisations/${enc(orga)}/applications/${enc(appId)}`,
        auth,
        undefined,
        signal,
      )
      return 'deleted'
    } catch (error) {
      if (error instanceof CleverApiError && (error.status === 404 || error.cleverCode === 4004)) return 'absent'
      throw error
    }
  }

  private async json(
    action: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    auth: CleverAuth | undefined,
    body: unknown,
    signal: AbortSignal | undefined,
    retry = true,
  ): Promise<unknown> {
    const url = `${this.o.baseUrl.replace(/\/+$/, '')}${path}`
    const endpoint = `${method} ${path.replace(/orga_[^/]+|app_[^/?]+/g, (m) => (m.startsWith('orga_') ? ':orga' : ':app')).split('?')[0]}`
    const headers: Record<string, string> = {accept: 'application/json'}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (auth) headers.authorization = authorizationHeader(auth)
    const attempts = retry ? DEFAULT_RETRY_POLICY.maxAttempts : 1
    // Per organisation (its credentials) and endpoint; calls without an organisation share one key.
    const gateKey = `${this.o.baseUrl} ${/organisations\/([^/]+)/.exec(path)?.[1] ?? '-'} ${endpoint}`
    for (let attempt = 1; ; attempt++) {
      await this.gate.pass(gateKey, signal)
      signal?.throwIfAborted()
      let res: HttpResponse | undefined
      let transport: HttpTransportError | undefined
      try {
        res = await this.o.http.request({
          method,
          url,
          headers,
          ...(body === undefined ? {} : {body: JSON.stringify(body)}),
          ...(signal ? {signal} : {}),
          headersTimeoutMs: 30_000,
          bodyTimeoutMs: 30_000,
          deadlineMs: CALL_DEADLINE_MS,
          // An organisation may hold many applications; every other answer is small.
          maxBodyBytes: action === 'list-apps' ? 32 * MIB : 4 * MIB,
        })
        this.o.onExchange?.(endpoint, res.status)
      } catch (error) {
        if (signal?.aborted) throw error
        if (!isHttpTransportError(error)) throw error
        this.o.onExchange?.(endpoint, 'network')
        transport = error
      }
      if (res && res.status < 400) {
        if (res.body === '') return undefined
        try {
          return JSON.parse(res.body) as unknown
        } catch {
          throw new CleverApiError(action, res.status, undefined, `answer is not JSON (${res.body.length} bytes)`)
        }
      }
      const again = transport !== undefined ? transport.retryable : isRetryableStatus(res!.status)
      const delay = again
        ? retryDelayMs(attempt, {...DEFAULT_RETRY_POLICY, baseDelayMs: 500}, this.o.random, res, this.o.now())
        : 0
      if (
        res &&
        (res.status === 429 || (res.status === 503 && serverRequestedDelayMs(res.headers, this.o.now()) !== undefined))
      ) {
        // Clever Cloud blocks clients that ignore its limits: hold back every call of this kind.
        const episode = this.gate.close(gateKey, delay)
        if (episode) this.o.onRateLimited?.(episode)
      }
      if (!again || attempt >= attempts) {
        if (transport) throw new CleverApiError(action, undefined, undefined, transport.message, {cause: transport})
        const {code, message} = parseCleverError(res!)
        throw new CleverApiError(action, res!.status, code, message)
      }
      await this.o.sleep(delay, signal)
    }
  }
}

/** `{"id": 4004, "message": "…", "type": "error"}`, or raw text for proxies and crashes. */
export function parseCleverError(res: HttpResponse): {code?: number; message: string} {
  try {
    const j = JSON.parse(res.body) as {id?: unknown; message?: unknown; error?: unknown; type?: unknown}
    const message =
      typeof j.message === 'string'
        ? j.message
        : typeof j.error === 'string'
          ? j.error
          : JSON.stringify(j).slice(0, 200)
    return {...(typeof j.id === 'number' ? {code: j.id} : {}), message}
  } catch {
    return {message: res.body ? `${res.body.slice(0, 120).replace(/\s+/g, ' ')}` : 'empty body'}
  }
}

export function authorizationHeader(a: CleverAuth): string {
  switch (a.scheme) {
    case 'token':
      return `token ${a.token}`
    case 'bearer':
      return `Bearer ${a.token}`
    case 'oauth1': {
      const pct = (s: string): string =>
        encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
      // The signature is `pct(consumer secret)&pct(token secret)`, and like every value it is encoded again in the header.
      return `OAuth oauth_consumer_key="${pct(a.consumerKey)}", oauth_token="${pct(a.token)}", oauth_signature_method="PLAINTEXT", oauth_signature="${pct(`${pct(a.consumerSecret)}&${pct(a.tokenSecret)}`)}"`
    }
  }
}

/** An answer that does not fit its schema: an error of that call, in one line. Never retried. */
function checked<T>(action: string, schema: z.ZodType<T>, answer: unknown): T {
  const r = schema.safeParse(answer)
  if (r.success) return r.data
  throw new CleverApiError(action, 200, undefined, `unexpected answer: ${describeAnswerIssues(r.error)}`, {
    malformed: true,
  })
}

function enc(s: string): string {
  return encodeURIComponent(s)
}
