/** The executor contract suite ships with the SDK: `@heptapod-paas-runner/plugin-api/testing`. */
export {executorContract, type ContractFixture} from '@heptapod-paas-runner/plugin-api/testing'
