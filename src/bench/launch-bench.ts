#!/usr/bin/env node
/**
 * `npm run bench:launch`: issue 20's launch-cost figures alone (the full `npm run bench` takes
 * minutes). `--jobs N` (default 500), `--floor N` launches one at a time and as many bare-git runs (default 30), `--cpu-prof DIR`
 * writes the daemon's CPU profile there (node --cpu-prof) for `where does a launch go`.
 */
import {parseArgs} from 'node:util'

import {describeLaunchCost, launchCost} from './launch-cost.js'

const {values} = parseArgs({
  options: {
    jobs: {type: 'string', default: '500'},
    floor: {type: 'string', default: '30'},
    'cpu-prof': {type: 'string'},
  },
})
const r = await launchCost(
  Number(values.jobs),
  Number(values.floor),
  values['cpu-prof'] ? {cpuProfDir: values['cpu-prof']} : {},
)
for (const line of describeLaunchCost(r)) process.stdout.write(`${line}\n`)
process.stdout.write(`${JSON.stringify(r)}\n`)
process.exit(0)
