import {JobRejectedError} from '@heptapod-paas-runner/plugin-api'

/** Clever Cloud's own domain: its git push hosts are `push-n<N>-<zone>-clevercloud-customers.services.clever-cloud.com`. */
const CLEVER_DOMAIN = '.clever-cloud.com'

/**
 * The git URL of an application's deployment repository, as the Clever API gave it, checked
 * before git or our credentials go anywhere near it. The answer is not trusted: a value that
 * starts with `-` would reach git as an option (`--exec=…` runs a command), and any other host
 * would receive the organisation token as HTTP Basic auth.
 *
 * Accepted: `https://` on the API's own host or on a host of Clever's domain, without
 * credentials in the URL; `http://` only on the API's own origin when the configured API URL is
 * itself a loopback `http` URL (the simulators). Throws a JobRejectedError otherwise.
 */
export function checkDeployUrl(
  value: unknown,
  apiUrl: string,
  ctx: {jobId?: number; resourceId?: string} = {},
): string {
  const refuse = (why: string): never => {
    const shown =
      typeof value === 'string' ? JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value) : typeof value
    throw new JobRejectedError(
      'clever_deploy_url',
      `the Clever Cloud API gave a deployment URL that is refused (${why}): ${shown}`,
      ctx,
    )
  }
  if (typeof value !== 'string' || value === '') return refuse('missing')
  // Never an option for git, whatever the parser below thinks of it.
  if (value.startsWith('-')) return refuse('starts with "-"')
  let url: URL
  let api: URL
  try {
    url = new URL(value)
  } catch {
    return refuse('not a URL')
  }
  try {
    api = new URL(apiUrl)
  } catch {
    return refuse('the configured cc_api_url is not a URL')
  }
  if (url.username !== '' || url.password !== '') return refuse('credentials in the URL')
  if (url.protocol === 'https:') {
    if (url.hostname === api.hostname || url.hostname.endsWith(CLEVER_DOMAIN)) return url.href
    return refuse(`host ${url.hostname} is neither the API's host nor one of Clever Cloud's git hosts`)
  }
  if (url.protocol === 'http:') {
    if (api.protocol === 'http:' && isLoopback(api.hostname) && url.origin === api.origin) return url.href
    return refuse('plain http is only accepted on the origin of a loopback http cc_api_url (simulators)')
  }
  return refuse(`scheme ${url.protocol} is not https`)
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/** Defence in depth: a value that git would read as an option never reaches its command line. */
export function assertNotGitOption(arg: string): string {
  if (arg.startsWith('-'))
    throw new JobRejectedError(
      'git_argument',
      `refused to pass a value starting with "-" to git: ${JSON.stringify(arg.slice(0, 60))}`,
    )
  return arg
}
