import {sendEmpty, sendJson} from '../common/http-util.js'
import {projectDenial, tokenDenial, type SimPrivateToken} from './gitlab-access.js'
import {header, reply, type Ctx} from './gitlab-http.js'
import {jobEntity, type SimJob, type SimProject, type SimRunner} from './gitlab-model.js'

/** What the users' API needs of the simulator. */
export interface UsersApiHost {
  readonly privateTokens: Map<string, SimPrivateToken>
  readonly projects: Map<number, SimProject>
  readonly jobs: Map<number, SimJob>
  readonly runners: Map<string, SimRunner>
  readonly groups: Map<string, {id: number; attributes: Map<string, string>}>
  readonly url: string
  now(): number
  cancelJob(id: number, o: {graceful?: boolean}): SimJob
}

/**
 * GitLab's REST API for users (reference §6, §7): jobs of a project (paginated), one job and its
 * log, user cancel, and group custom attributes, behind private tokens that belong to users with
 * project memberships and scopes (gitlab-access.ts).
 */
export class GitLabUsersApi {
  constructor(private readonly sim: UsersApiHost) {}

  /** The caller's private token (`PRIVATE-TOKEN` or `Authorization: Bearer`), or the 401 already answered. */
  caller(c: Ctx): SimPrivateToken | undefined {
    const auth = header(c.req, 'authorization')
    const pat = header(c.req, 'private-token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined)
    const t = pat === undefined ? undefined : this.sim.privateTokens.get(pat)
    const denied = tokenDenial(t, this.sim.now())
    if (denied) {
      reply(c, denied.status, denied.body)
      return undefined
    }
    return t
  }

  /** The project of `:id` (numeric id or URL-encoded path) if the caller may `need` on it; answers otherwise. */
  project(c: Ctx, need: 'read' | 'update'): SimProject | undefined {
    const t = this.caller(c)
    if (!t) return undefined
    const project =
      this.sim.projects.get(Number(c.params.id)) ??
      [...this.sim.projects.values()].find((p) => p.fullPath === c.params.id)
    if (!project) {
      reply(c, 404, {message: '404 Project Not Found'})
      return undefined
    }
    const denied = projectDenial(t, project, need)
    if (denied) {
      reply(c, denied.status, denied.body)
      return undefined
    }
    return project
  }

  // GET /projects/:id/jobs/:job_id[/trace] (reference §6): members with read_api only.
  projectJob(c: Ctx, trace: boolean): void {
    const project = this.project(c, 'read')
    if (!project) return
    const job = this.sim.jobs.get(Number(c.params.job_id))
    if (!job || job.projectId !== project.id) return reply(c, 404, {message: '404 Not found'})
    c.status(200)
    if (trace) {
      c.res.writeHead(200, {
        'content-type': 'text/plain',
        'content-disposition': `infile; filename="${job.id}.log"`,
        'content-length': job.log.length,
      })
      c.res.end(job.log)
      return
    }
    sendJson(c.res, 200, this.entity(job, project))
  }

  // GET /projects/:id/jobs?scope[]=…&page=&per_page= (reference §6): paginated, newest first.
  projectJobs(c: Ctx): void {
    const project = this.project(c, 'read')
    if (!project) return
    const scopes = [...c.url.searchParams.getAll('scope[]'), ...c.url.searchParams.getAll('scope')]
    const all = [...this.sim.jobs.values()]
      .filter((j) => j.projectId === project.id && (scopes.length === 0 || scopes.includes(j.status)))
      .sort((a, b) => b.id - a.id)
    const perPage = Math.min(100, Math.max(1, Number(c.url.searchParams.get('per_page') ?? 20) || 20))
    const page = Math.max(1, Number(c.url.searchParams.get('page') ?? 1) || 1)
    const totalPages = Math.max(1, Math.ceil(all.length / perPage))
    const link = (n: number, rel: string): string => {
      const u = new URL(c.url.pathname + c.url.search, this.sim.url)
      u.searchParams.set('page', String(n))
      u.searchParams.set('per_page', String(perPage))
      return `<${u.toString()}>; rel="${rel}"`
    }
    const links = [
      ...(page > 1 ? [link(page - 1, 'prev')] : []),
      ...(page < totalPages ? [link(page + 1, 'next')] : []),
      link(1, 'first'),
      link(totalPages, 'last'),
    ]
    c.status(200)
    sendJson(
      c.res,
      200,
      all.slice((page - 1) * perPage, page * perPage).map((j) => this.entity(j, project)),
      {
        'x-page': String(page),
        'x-per-page': String(perPage),
        'x-total': String(all.length),
        'x-total-pages': String(totalPages),
        'x-next-page': page < totalPages ? String(page + 1) : '',
        'x-prev-page': page > 1 ? String(page - 1) : '',
        link: links.join(', '),
      },
    )
  }

  // POST /projects/:id/jobs/:job_id/cancel (reference §6): Developer and `api`; 201 with the job.
  cancelByUser(c: Ctx): void {
    const project = this.project(c, 'update')
    if (!project) return
    const job = this.sim.jobs.get(Number(c.params.job_id))
    if (!job || job.projectId !== project.id) return reply(c, 404, {message: '404 Not found'})
    this.sim.cancelJob(job.id, {graceful: job.cancelGracefully === true})
    c.status(201)
    sendJson(c.res, 201, this.entity(job, project))
  }

  entity(job: SimJob, project: SimProject): Record<string, unknown> {
    const runner = [...this.sim.runners.values()].find((r) => r.id === job.runnerId)
    return jobEntity(job, project, runner, this.sim.url)
  }

  // Group custom attributes (reference §7): administrators only.
  attributes(c: Ctx): void {
    const who = this.caller(c)
    if (!who) return
    if (!who.admin) return reply(c, 403, {message: '403 Forbidden'})
    const g =
      this.sim.groups.get(c.params.id!) ?? [...this.sim.groups.values()].find((x) => String(x.id) === c.params.id)
    if (!g) return reply(c, 404, {message: '404 Group Not Found'})
    const key = c.params.key
    if (key === undefined) {
      c.status(200)
      return sendJson(
        c.res,
        200,
        [...g.attributes].map(([k, value]) => ({key: k, value})),
      )
    }
    if (c.req.method === 'GET') {
      const value = g.attributes.get(key)
      if (value === undefined) return reply(c, 404, {message: '404 Not found'})
      c.status(200)
      return sendJson(c.res, 200, {key, value})
    }
    if (c.req.method === 'PUT') {
      const value = c.json?.value ?? c.url.searchParams.get('value') ?? undefined
      if (value === undefined) return reply(c, 400, {error: 'value is missing'})
      g.attributes.set(key, String(value))
      c.status(200)
      return sendJson(c.res, 200, {key, value: String(value)})
    }
    if (!g.attributes.delete(key)) return reply(c, 404, {message: '404 Custom attribute Not Found'})
    c.status(204)
    sendEmpty(c.res, 204)
  }
}
