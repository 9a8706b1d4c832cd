import {spawn} from 'node:child_process'
import type {IncomingMessage, ServerResponse} from 'node:http'

/** Runs a command without blocking the event loop (never execFileSync in a process serving git). */
export function run(
  cmd: string,
  args: string[],
  opts: {cwd?: string; env?: NodeJS.ProcessEnv; input?: string} = {},
): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? {PATH: process.env.PATH},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.stdin.on('error', () => {}) // the command may exit before reading its input
    child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
    child.stdin.end(opts.input ?? '')
  })
}

/**
 * Serves one smart-HTTP git request with `git http-backend` (CGI). `pathInfo` is
 * `/<repo>.git/<rest>` relative to `projectRoot`. Resolves when the response is finished.
 * `beforeEnd` runs once git is done, before the response ends: what a server does after a
 * push (a deployment starting) is done before the client hears back, as on a real host whose
 * hooks run inside the push.
 */
export function gitHttpBackend(
  req: IncomingMessage,
  res: ServerResponse,
  projectRoot: string,
  pathInfo: string,
  user: string,
  beforeEnd?: () => Promise<void>,
): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(req.url ?? '/', 'http://git')
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      REMOTE_USER: user, // receive-pack is enabled for authenticated users
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      HTTP_CONTENT_ENCODING: (req.headers['content-encoding'] as string | undefined) ?? '',
      GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
    }
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length']
    const child = spawn('git', ['http-backend'], {env})
    child.stdin.on('error', () => {}) // http-backend may answer before reading the whole body
    req.pipe(child.stdin)
    let head = Buffer.alloc(0)
    let headersDone = false
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk)
        return
      }
      head = Buffer.concat([head, chunk])
      let sep = head.indexOf('\r\n\r\n')
      let sepLen = 4
      if (sep < 0) {
        sep = head.indexOf('\n\n')
        sepLen = 2
      }
      if (sep < 0) return
      headersDone = true
      let status = 200
      for (const line of head.subarray(0, sep).toString('utf8').split(/\r?\n/)) {
        const i = line.indexOf(':')
        if (i < 0) continue
        const k = line.slice(0, i).trim()
        const v = line.slice(i + 1).trim()
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10)
        else res.setHeader(k, v)
      }
      res.statusCode = status
      res.write(head.subarray(sep + sepLen))
    })
    child.on('close', () => {
      if (!headersDone) {
        res.statusCode = 500
        res.end(stderr)
        resolve()
        return
      }
      void (beforeEnd ?? (async () => {}))()
        .catch((error: unknown) => process.emitWarning(`git http-backend: after the request: ${String(error)}`))
        .finally(() => {
          res.end()
          resolve()
        })
    })
  })
}
