export * from './clever-client.js'
export * from './clever-config.js'
export * from './clever-executor.js'
export * from './clever-factory.js'
