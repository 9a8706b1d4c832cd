import {homedir} from 'node:os'
import {join} from 'node:path'

/**
 * The configuration file when none is named: `$HEPTAPOD_PAAS_RUNNER_CONFIG_DIR/config.toml` when
 * that is set, else `/etc/heptapod-paas-runner/config.toml` for root (a service), else
 * `~/.config/heptapod-paas-runner/config.toml`, as gitlab-runner picks `/etc/gitlab-runner` or
 * `~/.gitlab-runner`. Kept free of oclif: the fast path of `status` uses it.
 */
export function defaultConfigPath(
  env: NodeJS.ProcessEnv = process.env,
  uid = process.getuid?.() ?? -1,
  home = homedir(),
): string {
  const dir = env.HEPTAPOD_PAAS_RUNNER_CONFIG_DIR
  if (dir) return join(dir, 'config.toml')
  if (uid === 0) return '/etc/heptapod-paas-runner/config.toml'
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'heptapod-paas-runner', 'config.toml')
}
