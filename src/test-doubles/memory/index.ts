export * from './memory-cloud.js'
export * from './memory-executor.js'
