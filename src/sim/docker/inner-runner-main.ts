/**
 * `gitlab-runner exec-fetched-job --config <runner.toml> <job.json>` inside a test image of a
 * real Docker engine: plays the simulated inner runner (../common/inner-runner.ts) on the job,
 * prints its outcome, and exits 0 on success, 1 otherwise. No imports but node's and the
 * inner runner's, so the test can copy both files into a bare root filesystem.
 */
import {readFileSync} from 'node:fs'
import {hostname} from 'node:os'

import {runFetchedJob} from '../common/inner-runner.js'

const jobPath = process.argv.at(-1) ?? ''
const ac = new AbortController()
// PID 1 in a container: `docker stop` sends SIGTERM, which node ignores there unless handled.
process.on('SIGTERM', () => ac.abort())
let jobJson = ''
try {
  jobJson = readFileSync(jobPath, 'utf8')
} catch {
  console.error(`cannot read the job file ${jobPath}`)
  process.exit(2)
}
const ran = await runFetchedJob(jobJson, {label: hostname(), defaultDurationMs: 200, signal: ac.signal})
console.log(JSON.stringify(ran))
process.exit(ran.result === 'success' ? 0 : 1)
