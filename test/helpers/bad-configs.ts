/** Bad configurations, shared by the parser tests and the CLI exit-code tests. */
export const TOKEN = 'glrt-SeCrEtRuNnErToKeN42'
export const WATCH_TOKEN = 'glpat-WaTcHtOkEnSeCrEt'

export const BASE = `concurrent = 20
state_file = "/tmp/state.json"

[quota_computation]
  reference_runner = "mem"
  reference_flavor = "M"
  reference_jobs_count = 4

[[runners]]
  name = "mem"
  url = "https://gitlab.example.com"
  token = "${TOKEN}"
  executor = "memory"
  [runners.paas_job_trace_watch]
    token = "${WATCH_TOKEN}"
`

/** Each case: a config, then the issue expected as `path: message` (regexp) and optionally its line. */
export const BAD_CONFIGS: Array<{name: string; toml: string; expect: RegExp; line?: number}> = [
  {name: 'TOML syntax error', toml: `${BASE}\nconcurrent = = 3\n`, expect: /^cfg\.toml:17:14: TOML syntax error/},
  {
    name: 'missing quota_computation',
    toml: BASE.replace(/\[quota_computation\][^[]*/, ''),
    expect: /quota_computation: the \[quota_computation\] section is mandatory/,
  },
  {
    name: 'quota_computation without reference_runner',
    toml: BASE.replace('reference_runner = "mem"', ''),
    expect: /quota_computation\.reference_runner: /,
    line: 4,
  },
  {
    name: 'negative reference_jobs_count',
    toml: BASE.replace('reference_jobs_count = 4', 'reference_jobs_count = -4'),
    expect: /quota_computation\.reference_jobs_count: must be a number of jobs above 0 and at most \d+/,
    line: 7,
  },
  {
    name: 'reference_runner matching no runner',
    toml: BASE.replace('reference_runner = "mem"', 'reference_runner = "men"'),
    expect: /quota_computation\.reference_runner: no \[\[runners\]\] section is named 'men'; did you mean 'mem'\?/,
    line: 5,
  },
  {
    name: 'reference_flavor matching no flavor',
    toml: BASE.replace('reference_flavor = "M"', 'reference_flavor = "XXL"'),
    expect:
      /quota_computation\.reference_flavor: runner 'mem' \(executor memory\) has no flavor 'XXL'; its flavors: XS, S, M/,
    line: 6,
  },
  {
    name: 'concurrent = 0',
    toml: BASE.replace('concurrent = 20', 'concurrent = 0'),
    expect: /^cfg\.toml:1: concurrent: must be a whole number of jobs from 1 to \d+/,
  },
  {
    name: 'concurrent as a string',
    toml: BASE.replace('concurrent = 20', 'concurrent = "ten"'),
    expect: /concurrent: .*expected number/,
  },
  {
    name: 'fractional concurrent',
    toml: BASE.replace('concurrent = 20', 'concurrent = 2.5'),
    expect: /concurrent: must be a whole number/,
  },
  {
    name: 'negative check_interval',
    toml: `check_interval = -1\n${BASE}`,
    expect: /check_interval: must be a number of seconds from 0\.1 to 3600 \(1 h\)/,
    line: 1,
  },
  {name: 'unknown log_level', toml: `log_level = "verbose"\n${BASE}`, expect: /log_level: .*expected one of/, line: 1},
  {
    name: 'bad listen_address',
    toml: `listen_address = "everywhere"\n${BASE}`,
    expect: /listen_address: must be host:port/,
  },
  {
    name: 'paas_max_concurrent_provisioning = 0',
    toml: `paas_max_concurrent_provisioning = 0\n${BASE}`,
    expect: /paas_max_concurrent_provisioning: /,
  },
  {
    name: 'boolean key given a string',
    toml: `paas_finished_jobs_keep_resources = "yes"\n${BASE}`,
    expect: /paas_finished_jobs_keep_resources: .*expected boolean/,
  },
  {
    name: 'no runners',
    toml: BASE.slice(0, BASE.indexOf('[[runners]]')),
    expect: /runners: at least one \[\[runners\]\] section is required/,
  },
  {
    name: 'runners is not an array of tables',
    toml: `runners = 3\n${BASE.slice(0, BASE.indexOf('[[runners]]'))}`,
    expect: /runners: must be an array of tables/,
  },
  {
    name: 'runner without url',
    toml: BASE.replace('url = "https://gitlab.example.com"', ''),
    expect: /runners\[0\]\.url: required/,
    line: 9,
  },
  {
    name: 'runner url not http(s)',
    toml: BASE.replace('https://gitlab.example.com', 'gitlab.example.com'),
    expect: /runners\[0\]\.url: must be an http\(s\) URL/,
    line: 11,
  },
  {
    name: 'runner url with credentials',
    toml: BASE.replace('https://gitlab.example.com', 'https://root:hunter2hunter2@gitlab.example.com'),
    expect: /runners\[0\]\.url: must not contain credentials/,
  },
  {name: 'runner without token', toml: BASE.replace(`token = "${TOKEN}"`, ''), expect: /runners\[0\]\.token: required/},
  {name: 'runner token too short', toml: BASE.replace(TOKEN, 'abc'), expect: /runners\[0\]\.token: is too short/},
  {
    name: 'runner without executor',
    toml: BASE.replace('executor = "memory"', ''),
    expect: /runners\[0\]\.executor: required/,
  },
  {
    name: 'unknown executor',
    toml: BASE.replace('executor = "memory"', 'executor = "x"'),
    expect: /runners\[0\]\.executor: unknown executor 'x'; installed executors: .*memory\b/,
    line: 13,
  },
  {
    name: 'executor typo gets a hint',
    toml: BASE.replace('executor = "memory"', 'executor = "clever_docker"'),
    expect: /unknown executor 'clever_docker'; did you mean 'clever-docker'\?/,
  },
  {
    name: 'executor key with a bad value',
    toml: BASE.replace('executor = "memory"', 'executor = "memory"\n  memory_default_flavor = "HUGE"'),
    expect: /runners\[0\]\.memory_default_flavor: must be one of XS, S, M/,
    line: 14,
  },
  {
    name: 'trace watch timeout not a number',
    toml: BASE.replace(`token = "${WATCH_TOKEN}"`, `token = "${WATCH_TOKEN}"\n    timeout_seconds = "5m"`),
    expect: /runners\[0\]\.paas_job_trace_watch\.timeout_seconds: .*expected number/,
    line: 16,
  },
  {
    name: 'unknown key in the trace watch section',
    toml: BASE.replace(`token = "${WATCH_TOKEN}"`, `token = "${WATCH_TOKEN}"\n    pol_step = 5`),
    expect: /runners\[0\]\.paas_job_trace_watch\.pol_step: unknown key/,
  },
  {
    name: 'deprecated and current spellings together',
    toml: `job_progress_interval = 10\njob_progress_poll_interval = 20\n${BASE}`,
    expect:
      /job_progress_interval: both 'job_progress_interval' \(deprecated spelling\) and 'job_progress_poll_interval' are set/,
  },
  {
    name: 'top-level job_trace_watch not a table',
    toml: `job_trace_watch = 3\n${BASE}`,
    expect: /job_trace_watch: must be a table/,
  },
  {
    name: 'two runners with the same short token',
    toml: `${BASE}\n[[runners]]\n  name = "other"\n  url = "https://gitlab.example.com"\n  token = "${TOKEN.slice(0, 14)}different"\n  executor = "memory"\n`,
    expect:
      /runners\[1\]\.token: its short token 'SeCrEtRuN' \(as GitLab shows it in its runner list\) is the same as runners\[0\]'s/,
    line: 20,
  },
  {
    name: 'clever: cc_orga_id missing',
    toml: BASE.replace('executor = "memory"', 'executor = "clever-docker"\n  cc_token = "cc-secret-token-123"'),
    expect: /runners\[0\]\.cc_orga_id: required unless cc_multi_tenant = true/,
  },
  {
    name: 'clever: multi-tenant without attributes token',
    toml: BASE.replace('executor = "memory"', 'executor = "clever-docker"\n  cc_multi_tenant = true'),
    expect: /runners\[0\]\.cc_gitlab_namespace_attributes_token: required when cc_multi_tenant = true/,
  },
  {
    name: 'clever: oauth1 without its secrets',
    toml: BASE.replace(
      'executor = "memory"',
      'executor = "clever-docker"\n  cc_orga_id = "orga_x"\n  cc_token = "cc-secret-token-123"\n  cc_auth_scheme = "oauth1"',
    ),
    expect: /runners\[0\]\.cc_oauth_consumer_key: required when cc_auth_scheme = "oauth1"/,
  },
  {
    name: 'clever: extra env not a table',
    toml: BASE.replace(
      'executor = "memory"',
      'executor = "clever-docker"\n  cc_orga_id = "orga_x"\n  cc_token = "cc-secret-token-123"\n  cc_extra_env = "CC_ENABLE_HEPTAPOD_RUNNER=true"',
    ),
    expect: /runners\[0\]\.cc_extra_env: .*expected record/,
  },
]
