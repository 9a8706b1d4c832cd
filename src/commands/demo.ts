import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {createLogger} from '../adapters/logging/pino-logger.js'
import {BaseCommand} from '../cli/base-command.js'
import {runDemo} from '../cli/demo.js'
import {formatWeight} from '../core/quota/flavor-weight.js'

export default class Demo extends BaseCommand {
  static override description = `Run the daemon on an embedded demo: a simulated GitLab and a simulated Clever Cloud start in this process, and a stream of sample jobs of mixed flavors is fed in (one asks for a flavor that does not exist, one is canceled). No credentials, nothing leaves 127.0.0.1.

Stops after --jobs jobs are over, or on Ctrl-C.`

  static override flags = {
    jobs: Flags.integer({description: 'number of sample jobs', default: 12, min: 1}),
    'log-level': Flags.string({options: ['debug', 'info', 'warn', 'error'], default: 'info', description: 'log level'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Demo)
    const ac = new AbortController()
    const tty = Boolean(process.stdout.isTTY && process.stdin.isTTY)
    const tuiMod = tty ? await import('../tui/start-tui.js') : undefined
    const model = tty ? new (await import('../tui/tui-model.js')).TuiModel() : undefined
    const logFile = join(tmpdir(), `heptapod-paas-runner-demo-${process.pid}.log`)
    const destination = tuiMod && model ? tuiMod.tuiLogDestination(logFile, model) : undefined
    const {logger, flush} = createLogger({
      level: flags['log-level'] as 'info',
      pretty: !destination && Boolean(process.stderr.isTTY),
      redactor: this.redactor,
      ...(destination ? {destination} : {}),
    })
    const stop = (): void => {
      if (ac.signal.aborted) process.exit(0)
      logger.warn('interrupted: stopping the demo (again to exit at once)')
      ac.abort()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    logger.info(`demo: ${flags.jobs} sample jobs against a simulated GitLab and a simulated Clever Cloud`)
    let ui: {unmount(): Promise<void>} | undefined
    const r = await runDemo(this.config, logger, {jobs: flags.jobs, signal: ac.signal}, (daemon) => {
      if (tuiMod && model)
        ui = tuiMod.mountTui(daemon, model, {onQuit: () => ac.abort(), onForce: () => process.exit(0)})
    })
    await ui?.unmount()
    flush()
    if (destination) this.log(`the demo's log is in ${logFile}`)
    const count = (s: string) => r.jobs.filter((j) => j.status === s).length
    this.log(
      `demo ${ac.signal.aborted ? 'interrupted' : 'finished'}: ${count('success')} succeeded, ${count('failed')} failed, ${count('canceled')} canceled, ${r.jobs.length - count('success') - count('failed') - count('canceled')} not over; ` +
        `${r.appsLeft} app(s) left; peak weight of live apps ${formatWeight(r.peakWeight)} / quota ${r.quota === null ? '?' : formatWeight(r.quota)}`,
    )
    for (const j of r.jobs) this.log(`  job ${j.id}  flavor ${j.flavor.padEnd(4)}  ${j.status}`)
  }
}
