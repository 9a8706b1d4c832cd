import {createCipheriv, createDecipheriv, hkdfSync, randomBytes} from 'node:crypto'

import {PaasRunnerError} from '../errors.js'

/** First byte of a sealed value: the scheme, so that a later one can be told apart. */
const SCHEME_V1 = 1
const IV_BYTES = 12
const TAG_BYTES = 16
const HKDF_INFO = 'heptapod-paas-runner job secrets v1'

/** A sealed secret cannot be opened: wrong key (runner token changed?), or altered. */
export class SecretUnsealError extends PaasRunnerError {
  constructor(why: string) {
    super('state_secret_unreadable', why)
  }
}

/**
 * Seals the secrets of job records (job token, payload) for a shared store: AES-256-GCM, with
 * a key derived by HKDF-SHA256 from the runner's token and a per-store random salt. A dump of
 * the database alone gives nothing away; every daemon of a cluster has the runner tokens in its
 * configuration, so each can open what another sealed. The record's key is bound as additional
 * data: a sealed value copied onto another record does not open.
 */
export class JobSecretCipher {
  private readonly keys = new Map<string, Buffer>()

  /**
   * @param runnerTokens runner unique name → runner token, from the configuration.
   * @param salt per-store random bytes (stored next to the data: it is not a secret).
   */
  constructor(
    private readonly runnerTokens: ReadonlyMap<string, string>,
    private readonly salt: Buffer,
  ) {}

  /** Whether this runner's records can be sealed and opened here. */
  has(runner: string): boolean {
    return this.token(runner) !== undefined
  }

  /** `scheme ‖ iv ‖ tag ‖ ciphertext`. Throws SecretUnsealError when the runner has no token here. */
  seal(runner: string, aad: string, plain: string): Buffer {
    const key = this.key(runner)
    const iv = randomBytes(IV_BYTES)
    const c = createCipheriv('aes-256-gcm', key, iv)
    c.setAAD(Buffer.from(aad, 'utf8'))
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()])
    return Buffer.concat([Buffer.from([SCHEME_V1]), iv, c.getAuthTag(), body])
  }

  /** The plain text of `seal`. Throws SecretUnsealError (wrong token, altered value, unknown scheme). */
  open(runner: string, aad: string, sealed: Buffer): string {
    if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== SCHEME_V1)
      throw new SecretUnsealError('not a sealed value of a known scheme')
    const key = this.key(runner)
    const iv = sealed.subarray(1, 1 + IV_BYTES)
    const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES)
    const d = createDecipheriv('aes-256-gcm', key, iv)
    d.setAAD(Buffer.from(aad, 'utf8'))
    d.setAuthTag(tag)
    try {
      return Buffer.concat([d.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8')
    } catch {
      throw new SecretUnsealError(
        'cannot decrypt: sealed with another runner token (was the runner re-registered?) or altered',
      )
    }
  }

  /**
   * The runner's token: by unique name, or, for a record keyed by the original's 8-character
   * prefix, the one configured token that starts with it.
   */
  private token(runner: string): string | undefined {
    const exact = this.runnerTokens.get(runner)
    if (exact !== undefined) return exact
    const prefixed = [...this.runnerTokens.values()].filter((t) => t.slice(0, 8) === runner)
    return prefixed.length === 1 ? prefixed[0] : undefined
  }

  private key(runner: string): Buffer {
    let k = this.keys.get(runner)
    if (k) return k
    const token = this.token(runner)
    if (token === undefined)
      throw new SecretUnsealError(`no runner '${runner}' in the configuration: its token is the key of this record`)
    k = Buffer.from(hkdfSync('sha256', token, this.salt, HKDF_INFO, 32))
    this.keys.set(runner, k)
    return k
  }
}
