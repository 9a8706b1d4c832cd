#!/usr/bin/env node
/**
 * Standalone GitLab simulator, for people developing an executor plugin:
 *
 *   node dist/sim/gitlab/main.js [--port 8080] [--long-poll-ms 50000] [--runner-token glrt-…]
 *        [--registration-token TOKEN] [--admin-token TOKEN]
 *
 * Prints one JSON line ({url, runnerToken, …}) then serves until SIGINT/SIGTERM.
 * Enqueue jobs with `curl -XPOST $URL/_sim/jobs -d '{"flavor":"S"}'`; see the `/_sim` routes
 * in gitlab-simulator.ts for the rest of the control API.
 */
import {parseArgs} from 'node:util'

import {GitLabSimulator} from './gitlab-simulator.js'

const {values} = parseArgs({
  options: {
    port: {type: 'string', default: '0'},
    host: {type: 'string', default: '127.0.0.1'},
    'long-poll-ms': {type: 'string', default: '0'},
    'runner-token': {type: 'string'},
    'registration-token': {type: 'string'},
    'admin-token': {type: 'string'},
  },
})

const sim = new GitLabSimulator({port: Number(values.port), host: values.host, longPollMs: Number(values['long-poll-ms'])})
const runner = sim.createRunner(values['runner-token'] ? {token: values['runner-token']} : {})
if (values['registration-token']) sim.addRegistrationToken(values['registration-token'])
if (values['admin-token']) sim.addPrivateToken(values['admin-token'], {admin: true})
const url = await sim.start()
process.stdout.write(`${JSON.stringify({url, runnerToken: runner.token, runnerId: runner.id})}\n`)

const stop = async (): Promise<void> => {
  await sim.stop()
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
