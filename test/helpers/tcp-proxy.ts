import {createServer, connect, type Server, type Socket} from 'node:net'

/**
 * A TCP proxy to a server (PostgreSQL) that a test can cut: every connection through it is
 * destroyed and new ones are refused until `heal`, as a network partition seen from one side.
 */
export class TcpProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private cutOff = false
  port = 0

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (this.cutOff) {
        client.destroy()
        return
      }
      const upstream = connect(this.targetPort, this.host)
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('error', () => {})
        s.on('close', () => {
          this.sockets.delete(s)
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as {port: number}).port
    return this.port
  }

  cut(): void {
    this.cutOff = true
    for (const s of this.sockets) s.destroy()
  }

  heal(): void {
    this.cutOff = false
  }

  async stop(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
