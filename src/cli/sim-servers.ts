import {randomBytes} from 'node:crypto'

import {PaasRunnerError} from '../core/errors.js'

/** What a standalone simulator prints: where it listens and the credentials to use against it. */
export interface SimServer {
  info: Record<string, unknown>
  stop(): Promise<void>
}

/** A port already taken: a usage error (exit 2), not a stack trace. */
export class PortInUseError extends PaasRunnerError {
  constructor(port: number, host: string) {
    super('port_in_use', `port ${port} is already in use on ${host}: choose another --port, or --port 0 for a free one`)
  }
}

async function started<T>(start: () => Promise<T>, port: number, host: string): Promise<T> {
  try {
    return await start()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(port, host)
    throw error
  }
}

const secret = (prefix: string): string => `${prefix}${randomBytes(12).toString('hex')}`

/**
 * The GitLab simulator on its own: one runner (`glrt-` token), project 42 `acme/widgets`, and
 * optionally a registration token, an administrator token, and a job-log watch token (Reporter
 * on project 42, `read_api`). Jobs are enqueued through its `/_sim` control API.
 */
export async function startGitLabSim(o: {
  port: number
  host: string
  longPollMs: number
  runnerToken?: string
  registrationToken?: string
  adminToken?: string
  watchToken?: string
  twoPhaseCommit: boolean
}): Promise<SimServer> {
  const {GitLabSimulator} = await import('../sim/gitlab/gitlab-simulator.js')
  const sim = new GitLabSimulator({port: o.port, host: o.host, longPollMs: o.longPollMs})
  sim.twoPhaseCommit = o.twoPhaseCommit
  const runner = sim.createRunner(o.runnerToken ? {token: o.runnerToken} : {})
  if (o.registrationToken) sim.addRegistrationToken(o.registrationToken)
  if (o.adminToken) sim.addPrivateToken(o.adminToken, {admin: true})
  if (o.watchToken) sim.addPrivateToken(o.watchToken, {projects: {42: 'reporter'}, scopes: ['read_api']})
  const url = await started(() => sim.start(), o.port, o.host)
  return {
    info: {
      simulator: 'gitlab',
      url,
      runnerToken: runner.token,
      runnerId: runner.id,
      project: {id: 42, path: 'acme/widgets'},
      ...(o.registrationToken ? {registrationToken: o.registrationToken} : {}),
      ...(o.adminToken ? {adminToken: o.adminToken} : {}),
      ...(o.watchToken ? {watchToken: o.watchToken} : {}),
      enqueue: `curl -XPOST ${url}/_sim/jobs -H 'content-type: application/json' -d '{"flavor":"S"}'`,
    },
    stop: () => sim.stop(),
  }
}

/**
 * The Clever Cloud simulator on its own: one organisation whose member holds an organisation
 * token (the original's `token` scheme, git user `Jenkins`) and an OAuth1 pair (for clever-tools
 * and @clevercloud/client). Pushed jobs run against the GitLab named in their payload.
 */
export async function startCleverSim(o: {
  port: number
  orga: string
  token?: string
  repoReadyMs: number
  jobDurationMs: number
  innerRunner: boolean
}): Promise<SimServer> {
  const {CleverSimulator} = await import('../sim/clever/clever-simulator.js')
  const sim = new CleverSimulator({
    port: o.port,
    repoReadyDelayMs: o.repoReadyMs,
    jobDurationMs: o.jobDurationMs,
    innerRunner: o.innerRunner,
  })
  const token = o.token ?? secret('cc-sim-')
  const oauth = {
    consumerKey: secret('ck-'),
    consumerSecret: secret('cs-'),
    token: secret('tok-'),
    tokenSecret: secret('sec-'),
  }
  sim.addOrg(o.orga, {token, gitUser: 'Jenkins', oauth})
  const apiUrl = await started(() => sim.start(), o.port, '127.0.0.1')
  return {
    info: {
      simulator: 'clever',
      apiUrl,
      apiHost: sim.hostUrl,
      orgaId: o.orga,
      token,
      gitUser: 'Jenkins',
      oauth,
      config: {cc_api_url: apiUrl, cc_orga_id: o.orga, cc_token: token},
      cleverTools: {
        API_HOST: sim.hostUrl,
        CLEVER_TOKEN: oauth.token,
        CLEVER_SECRET: oauth.tokenSecret,
        OAUTH_CONSUMER_KEY: oauth.consumerKey,
        OAUTH_CONSUMER_SECRET: oauth.consumerSecret,
      },
    },
    stop: () => sim.stop(),
  }
}

/** Resolves on SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (s: string) => (): void => {
      process.off('SIGINT', int)
      process.off('SIGTERM', term)
      resolve(s)
    }
    const int = on('SIGINT')
    const term = on('SIGTERM')
    process.once('SIGINT', int)
    process.once('SIGTERM', term)
  })
}
