import pg from 'pg'

/** Seconds a connection attempt or a statement may take before it fails (never a hang). */
const CONNECT_TIMEOUT_MS = 10_000
const QUERY_TIMEOUT_MS = 30_000

/** The URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return 'the state_url'
  }
}

/**
 * A connected client. Its errors after connection (server gone, network cut) are reported to
 * `onError` instead of crashing the process, as pg emits them on the client.
 */
export async function connect(url: string, onError: (e: Error) => void = () => {}): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'heptapod-paas-runner',
  })
  client.on('error', onError)
  try {
    await client.connect()
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }
  return client
}
