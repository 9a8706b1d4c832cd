/** Flavors and their weight are part of the SDK: executors list them, the core weighs the quota. */
export {WEIGHT_EXPONENT, flavorWeight, formatWeight, makeFlavor, type Flavor} from '@heptapod-paas-runner/plugin-api'
