import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {runDemo} from '../app/demo.js'
import {stopSignals} from '../app/signals.js'
import {withTui} from '../app/with-tui.js'
import type {LogLevel} from '../core/config/config-types.js'
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
    const logFile = join(tmpdir(), `heptapod-paas-runner-demo-${process.pid}.log`)
    const r = await withTui(
      {
        wanted: tty,
        logFile,
        level: flags['log-level'] as LogLevel,
        redactor: this.redactor,
        warn: (l) => this.logToStderr(l),
      },
      async (ui) => {
        const signals = stopSignals({
          signals: ['SIGINT', 'SIGTERM'],
          onFirst: () => ui.logger.warn('interrupted: stopping the demo (again to exit at once)'),
          onForce: () => process.exit(0),
        })
        void signals.stopRequested.then(() => ac.abort())
        ui.logger.info(`demo: ${flags.jobs} sample jobs against a simulated GitLab and a simulated Clever Cloud`)
        let shown: {unmount(): Promise<void>} | undefined
        const result = await runDemo(this.config, ui.logger, {jobs: flags.jobs, signal: ac.signal}, (daemon) => {
          shown = ui.mount(daemon, {onQuit: () => ac.abort(), onForce: () => process.exit(0)})
        })
        await shown?.unmount()
        signals.dispose()
        if (ui.logFile) this.log(`the demo's log is in ${ui.logFile}`)
        return result
      },
    )
    const count = (s: string) => r.jobs.filter((j) => j.status === s).length
    this.log(
      `demo ${ac.signal.aborted ? 'interrupted' : 'finished'}: ${count('success')} succeeded, ${count('failed')} failed, ${count('canceled')} canceled, ${r.jobs.length - count('success') - count('failed') - count('canceled')} not over; ` +
        `${r.appsLeft} app(s) left; peak weight of live apps ${formatWeight(r.peakWeight)} / quota ${r.quota === null ? '?' : formatWeight(r.quota)}`,
    )
    for (const j of r.jobs) this.log(`  job ${j.id}  flavor ${j.flavor.padEnd(4)}  ${j.status}`)
  }
}
