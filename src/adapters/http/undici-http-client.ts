/** The default HttpClient ships with the SDK, so plugins get the same one without reaching into the host. */
export * from '@heptapod-paas-runner/plugin-api/undici'
