/** The logger port is part of the SDK (executors get one in their deps). */
export {silentLogger, type Logger} from '@heptapod-paas-runner/plugin-api'
