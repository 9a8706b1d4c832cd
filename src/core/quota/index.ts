export * from './flavor-weight.js'
export * from './quota.js'
export * from './quota-report.js'
export * from './admission.js'
