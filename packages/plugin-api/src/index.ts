/**
 * @heptapod-paas-runner/plugin-api: what an executor plugin of heptapod-paas-runner imports.
 * `./testing` holds the executor contract suite (vitest); `./undici` a default HttpClient.
 */
export * from './executor.js'
export * from './inner-runner.js'
export * from './define-executor.js'
export * from './errors.js'
export * from './flavor.js'
export * from './job-payload.js'
export * from './runner-config.js'
export * from './names.js'
export * from './owner-marker.js'
export * from './logger.js'
export * from './lazy-executor.js'
export * from './config-bounds.js'
export * from './config-keys.js'
export * from './config-docs.js'
export * from './http/http-port.js'
export * from './http/retry.js'
export * from './http/rate-limit-gate.js'
export * from './build-context/build-context.js'
export * from './build-context/docker-image.js'
