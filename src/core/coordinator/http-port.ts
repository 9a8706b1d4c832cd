/** The HTTP port is part of the SDK: executors use it for their PAAS API, the core for GitLab. */
export {
  HttpTransportError,
  isHttpTransportError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '@heptapod-paas-runner/plugin-api'
