import type {IncomingMessage, ServerResponse} from 'node:http'

import {sendJson} from '../common/http-util.js'

/** One request to the GitLab simulator, as its handlers see it. */
export interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
  body: Buffer
  /** JSON or form params of the body; undefined when the body does not parse. */
  json: Record<string, unknown> | undefined
  endpoint: string
  status(code: number): void
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

export function reply(c: Ctx, status: number, body: unknown, headers: Record<string, string> = {}): void {
  c.status(status)
  sendJson(c.res, status, body, headers)
}
