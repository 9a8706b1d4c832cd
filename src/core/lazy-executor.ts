export {LazyExecutor} from '@heptapod-paas-runner/plugin-api'
