/** The rate-limit gate lives in the SDK (executors share it for their PAAS API). */
export {MAX_RATE_LIMIT_WAIT_MS, RateLimitGate, type RateLimitEpisode} from '@heptapod-paas-runner/plugin-api'
