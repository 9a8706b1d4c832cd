/** `bounded` is part of the SDK: executors' config schemas use it too. */
export {bounded} from '@heptapod-paas-runner/plugin-api'
