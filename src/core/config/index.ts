export * from './config-types.js'
export * from './parse-config.js'
export {didYouMean} from './did-you-mean.js'
