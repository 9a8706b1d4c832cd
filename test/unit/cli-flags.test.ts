import {describe, expect, it} from 'vitest'

import {defaultConfigPath, parseLogLevel, resolveConfigPath} from '../../src/cli/common-flags.js'
import {translateOriginalRegisterArgs} from '../../src/cli/original-register-args.js'
import {nameProblem, urlProblem} from '../../src/cli/register.js'
import {RegisterUsageError, sortSettings, splitSetting} from '../../src/cli/register-settings.js'
import {testExecutors} from '../helpers/executors.js'

describe('command-line details', () => {
  it("log levels in any case, with GitLab's and Python's names", () => {
    expect(
      ['INFO', 'debug', 'Warning', 'WARN', 'ERROR', 'CRITICAL', 'panic', 'fatal', 'trace'].map(parseLogLevel),
    ).toEqual(['info', 'debug', 'warn', 'warn', 'error', 'fatal', 'fatal', 'fatal', 'trace'])
    expect(() => parseLogLevel('LOUD')).toThrow("unknown log level 'LOUD'")
  })

  it('the default config path: the config dir variable, else /etc for root, else ~/.config', () => {
    expect(defaultConfigPath({HEPTAPOD_PAAS_RUNNER_CONFIG_DIR: '/x'}, 1000, '/home/u')).toBe('/x/config.toml')
    expect(defaultConfigPath({}, 0, '/root')).toBe('/etc/heptapod-paas-runner/config.toml')
    expect(defaultConfigPath({}, 1000, '/home/u')).toBe('/home/u/.config/heptapod-paas-runner/config.toml')
    expect(defaultConfigPath({XDG_CONFIG_HOME: '/xdg'}, 1000, '/home/u')).toBe('/xdg/heptapod-paas-runner/config.toml')
    expect(resolveConfigPath('a.toml', undefined)).toBe('a.toml')
    expect(resolveConfigPath(undefined, 'b.toml')).toBe('b.toml')
    expect(() => resolveConfigPath('a.toml', 'b.toml')).toThrow('two configuration files given')
  })

  it("the original register program's flags become register's", () => {
    expect(
      translateOriginalRegisterArgs(
        [
          'c.toml',
          '-c',
          'https://h',
          '-t',
          'T',
          '-e',
          'clever-docker',
          '--name',
          'n',
          '--max-concurrency',
          '3',
          '--state-file-path',
          '/s',
          '-l',
          'DEBUG',
        ],
        true,
      ),
    ).toEqual([
      'register',
      'c.toml',
      '--url',
      'https://h',
      '--registration-token',
      'T',
      '--name',
      'n',
      '--executor',
      'clever-docker',
      '--max-concurrency',
      '3',
      '--state-file-path',
      '/s',
      '--log-level',
      'DEBUG',
    ])
    expect(translateOriginalRegisterArgs(['c.toml'], false)).toEqual(['register', 'c.toml', '--non-interactive'])
    expect(() => translateOriginalRegisterArgs([], true)).toThrow('the following arguments are required: config')
    expect(() => translateOriginalRegisterArgs(['c.toml', '--bogus'], true)).toThrow()
  })

  it('--set: keys checked against the schemas, values typed by them, tables by entry, never a value in a message', () => {
    const s = sortSettings(
      [
        ['cc_zone', 'rbx'],
        ['cc_deployment_repo_timeout', '45'],
        ['cc_multi_tenant', 'true'],
        ['cc_extra_env.FOO', 'bar'],
        ['concurrent', '7'],
        ['limit', '3'],
        ['docker.image', 'debian'],
      ],
      testExecutors,
      'clever-docker',
    )
    expect(s).toEqual({
      runner: {
        cc_zone: 'rbx',
        cc_deployment_repo_timeout: 45,
        cc_multi_tenant: true,
        cc_extra_env: {FOO: 'bar'},
        limit: 3,
        docker: {image: 'debian'},
      },
      global: {concurrent: 7},
    })
    expect(() => sortSettings([['cc_zoen', 'x']], testExecutors, 'clever-docker')).toThrow("did you mean 'cc_zone'?")
    expect(() => sortSettings([['memory_cloud', 'x']], testExecutors, 'clever-docker')).toThrow(RegisterUsageError)
    expect(sortSettings([['memory_cloud', 'x']], testExecutors, undefined).runner).toEqual({memory_cloud: 'x'})
    expect(() => sortSettings([['token', 'glrt-x']], testExecutors, 'memory')).toThrow('register writes it itself')
    expect(() => sortSettings([['quota_computation', 'x']], testExecutors, 'memory')).toThrow('--max-flavor')
    try {
      sortSettings([['cc_deployment_repo_timeout', 'secret-value-xyz']], testExecutors, 'clever-docker')
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-value-xyz')
    }
    expect(() => splitSetting('novalue')).toThrow('--set expects KEY=VALUE')
  })

  it('URLs and names register accepts', () => {
    expect(urlProblem('https://gitlab.example.com', 'u')).toBeUndefined()
    expect(urlProblem('https://user:pw@gitlab.example.com', 'u')).toContain('must not contain credentials')
    expect(urlProblem('https://token@gitlab.example.com', 'u')).toContain('must not contain credentials')
    expect(urlProblem('ftp://gitlab.example.com', 'u')).toContain('http(s)')
    expect(urlProblem('https://gitlab.example.com/\n', 'u')).toContain('control characters')
    expect(nameProblem('runner-1 (paris)', 'n')).toBeUndefined()
    expect(nameProblem('a\u0000b', 'n')).toContain('control characters')
    expect(nameProblem('a\u001b[31m', 'n')).toContain('control characters')
    expect(nameProblem(' ', 'n')).toContain('empty')
  })
})
