import {describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import {ConfigError} from '../../src/core/errors.js'
import {Redactor} from '../../src/core/redact.js'
import {BASE as WITH_FILE} from '../helpers/bad-configs.js'
import {testExecutors} from '../helpers/executors.js'

/** The shared base config, without its state_file. */
const BASE = WITH_FILE.replace('state_file = "/tmp/state.json"\n', '')

const parse = (toml: string, redactor = new Redactor()) =>
  parseConfig(toml, {file: 'cfg.toml', executors: testExecutors, defaultStateFile: '/tmp/s', redactor})

function issues(toml: string): string[] {
  try {
    parse(toml)
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.line ?? '?'}: ${i.path}: ${i.message}`)
    throw error
  }
  return []
}

describe('state_url and state_schema', () => {
  it('select the PostgreSQL store; the schema defaults to heptapod_paas_runner', () => {
    const c = parse(`state_url = "postgresql://runner@db.example:5432/heptapod?sslmode=require"\n${BASE}`)
    expect(c.stateUrl).toBe('postgresql://runner@db.example:5432/heptapod?sslmode=require')
    expect(c.stateSchema).toBe('heptapod_paas_runner')
    expect(parse(`state_url = "postgres://db/x"\nstate_schema = "hpr_two"\n${BASE}`).stateSchema).toBe('hpr_two')
    expect(parse(BASE).stateUrl).toBeUndefined()
  })

  it('cluster_lease_seconds: 30 by default, a whole number of seconds from 3 to 3600, said on its line', () => {
    expect(parse(`state_url = "postgresql://db/x"\n${BASE}`).clusterLeaseSeconds).toBe(30)
    expect(parse(`state_url = "postgresql://db/x"\ncluster_lease_seconds = 5\n${BASE}`).clusterLeaseSeconds).toBe(5)
    for (const bad of ['2', '3601', '4.5', '"30"']) {
      const found = issues(`state_url = "postgresql://db/x"\ncluster_lease_seconds = ${bad}\n${BASE}`)
      expect(found, bad).toHaveLength(1)
      expect(found[0], bad).toMatch(/^2: cluster_lease_seconds: /)
    }
  })

  it('state_file and state_url together are a configuration error, on the line of state_url', () => {
    expect(issues(`state_url = "postgresql://db/x"\n${WITH_FILE}`)).toEqual([
      '1: state_url: state_file and state_url are mutually exclusive: the file journal (one daemon) or PostgreSQL (state_url), not both',
    ])
  })

  it.each([
    ['state_url = "mysql://db/x"', 'state_url: must be a PostgreSQL URL'],
    ['state_url = "postgresql://"', 'state_url: must be a PostgreSQL URL'],
    ['state_schema = "Robert\'); DROP TABLE"', 'state_schema: must be a lower-case SQL identifier'],
    ['state_schema = "public.jobs"', 'state_schema: must be a lower-case SQL identifier'],
    [`state_schema = "${'a'.repeat(64)}"`, 'state_schema: must be a lower-case SQL identifier'],
  ])('%s is refused', (line, message) => {
    expect(issues(`${line}\n${BASE}`).join('\n')).toContain(message)
  })

  it('the password of state_url is a secret', () => {
    const redactor = new Redactor()
    parse(`state_url = "postgresql://runner:s3cr%40tPassw0rd@db.example/heptapod"\n${BASE}`, redactor)
    expect(redactor.redact('connect failed for s3cr@tPassw0rd')).not.toContain('s3cr@tPassw0rd')
  })
})
