/** The one backoff function lives in the SDK: executors retry their PAAS calls the same way. */
export {backoffDelayMs} from '@heptapod-paas-runner/plugin-api'
