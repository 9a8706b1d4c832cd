import type {SimProject} from './gitlab-model.js'

/** GitLab's project access levels. */
export const ACCESS_LEVELS = {guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50} as const
export type AccessLevelName = keyof typeof ACCESS_LEVELS

/** A personal (or project) access token and what its user may do. */
export interface SimPrivateToken {
  admin: boolean
  /** Project id → access level of the token's user (membership). */
  projects: Map<number, number>
  /** Token scopes: `api`, `read_api`, … (GitLab: `read_api` to read jobs and logs, `api` to cancel). */
  scopes: string[]
  /** Expiry, ms since the epoch (simulator clock); GitLab answers 401 after it. */
  expiresAt?: number
  revoked: boolean
}

export interface PrivateTokenSpec {
  admin?: boolean
  projects?: Record<number, AccessLevelName | number>
  scopes?: string[]
  expiresAt?: number
}

export function privateToken(o: PrivateTokenSpec = {}): SimPrivateToken {
  const projects = new Map<number, number>()
  for (const [id, level] of Object.entries(o.projects ?? {}))
    projects.set(Number(id), typeof level === 'number' ? level : ACCESS_LEVELS[level])
  return {
    admin: o.admin ?? false,
    projects,
    scopes: o.scopes ?? ['api'],
    ...(o.expiresAt === undefined ? {} : {expiresAt: o.expiresAt}),
    revoked: false,
  }
}

export type Denial = {status: number; body: unknown}

/** 401 bodies of GitLab's token checks. */
export function tokenDenial(t: SimPrivateToken | undefined, nowMs: number): Denial | undefined {
  if (!t) return {status: 401, body: {message: '401 Unauthorized'}}
  if (t.revoked)
    return {
      status: 401,
      body: {error: 'invalid_token', error_description: 'Token was revoked. You have to re-authorize from the user.'},
    }
  if (t.expiresAt !== undefined && nowMs >= t.expiresAt)
    return {status: 401, body: {error: 'invalid_token', error_description: 'Token has expired.'}}
  return undefined
}

/**
 * What GitLab answers when a token reads (`read`) or acts on (`update`) a project's jobs: a
 * private project is invisible (404) to non-members; reading jobs needs Reporter and `read_api`
 * (or `api`); canceling needs Developer and `api`. Administrators may do everything their scope allows.
 */
export function projectDenial(t: SimPrivateToken, p: SimProject, need: 'read' | 'update'): Denial | undefined {
  const scopes = need === 'read' ? ['api', 'read_api'] : ['api']
  if (!t.scopes.some((s) => scopes.includes(s))) {
    return {
      status: 403,
      body: {
        error: 'insufficient_scope',
        error_description: 'The request requires higher privileges than provided by the access token.',
        scope: scopes.join(' '),
      },
    }
  }
  if (t.admin) return undefined
  const level = t.projects.get(p.id)
  const visible = level !== undefined || p.visibility === 'public'
  if (!visible) return {status: 404, body: {message: '404 Project Not Found'}}
  const min = need === 'read' ? (p.visibility === 'public' ? 0 : ACCESS_LEVELS.reporter) : ACCESS_LEVELS.developer
  if ((level ?? 0) < min) return {status: 403, body: {message: '403 Forbidden'}}
  return undefined
}
