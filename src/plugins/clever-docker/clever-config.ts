import {z} from 'zod'

import {bounded} from '@heptapod-paas-runner/plugin-api'

/** Default Clever Cloud API base, as in the original. */
export const DEFAULT_CC_API_URL = 'https://api.clever-cloud.com/v2'
/** "Heptapod Runner" instance variant of Clever's Docker runtime. */
export const DEFAULT_INSTANCE_VARIANT = '70d676a0-a775-4dc9-a43d-3121036e8515'

const envValue = z.union([z.string(), z.number(), z.boolean()])

/**
 * The clever-docker executor's own keys in a `[[runners]]` section. None of them is forwarded
 * to the inner runner: they hold the organisation's credentials.
 */
export const cleverConfigSchema = z
  .object({
    /** Clever Cloud API base URL. */
    cc_api_url: z
      .string()
      .regex(/^https?:\/\/\S+$/, 'must be an http(s) URL')
      .default(DEFAULT_CC_API_URL),
    /** Zone of created applications. */
    cc_zone: z.string().min(1).default('par'),
    /** Flavor of jobs without CI_CLEVER_CLOUD_FLAVOR. */
    cc_default_flavor: z.string().min(1).default('M'),
    /** Heaviest flavor a job may ask for; also the minimum free weight needed to poll. */
    cc_max_flavor: z.string().min(1).optional(),
    /** `context` of the flavors listing. */
    cc_flavor_context: z.string().min(1).default('heptapod-runner'),
    /** Only flavors whose name starts with this are kept; defaults to `<cc_flavor_context>-`. */
    cc_flavor_name_prefix: z.string().optional(),
    /** `instanceVariant` of created applications. */
    cc_instance_variant_uuid: z.string().min(1).default(DEFAULT_INSTANCE_VARIANT),
    /** User name of the git deployment URL. */
    cc_auth_user: z.string().min(1).default('Jenkins'),
    /** Extra environment of the application, e.g. CC_ENABLE_HEPTAPOD_RUNNER = "true". */
    cc_extra_env: z.record(z.string(), envValue).default({}),
    /** Seconds to wait for the deployment repository to be ready. */
    cc_deployment_repo_timeout: bounded({min: 1, max: 3600, unit: 'seconds'}).default(20),
    /** Seconds between two checks of the deployment repository. */
    cc_deployment_repo_wait_step: bounded({min: 0.01, max: 600, unit: 'seconds'}).default(2),
    /** Organisation of every application (single-organisation mode). */
    cc_orga_id: z.string().min(1).optional(),
    /** Clever API token of that organisation; also the git push password. Secret. */
    cc_token: z.string().min(1).optional(),
    /** Take organisation and token from the custom attributes of the job's top-level group. */
    cc_multi_tenant: z.boolean().default(false),
    /** GitLab token able to read group custom attributes (multi-tenant mode). Secret. */
    cc_gitlab_namespace_attributes_token: z.string().min(1).optional(),
    cc_orga_id_attribute: z.string().min(1).default('cc_orga_id'),
    cc_orga_token_attribute: z.string().min(1).default('cc_orga_token'),
    /** How `cc_token` is sent: the original's `token` scheme, a Bearer API token, or OAuth1 PLAINTEXT. */
    cc_auth_scheme: z.enum(['token', 'bearer', 'oauth1']).default('token'),
    /** OAuth1 consumer key and secrets (cc_auth_scheme = "oauth1"; cc_token is then the OAuth token). Secrets. */
    cc_oauth_consumer_key: z.string().min(1).optional(),
    cc_oauth_consumer_secret: z.string().min(1).optional(),
    cc_oauth_token_secret: z.string().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    if (!c.cc_multi_tenant) {
      for (const key of ['cc_orga_id', 'cc_token'] as const) {
        if (c[key] === undefined)
          ctx.addIssue({code: 'custom', path: [key], message: 'required unless cc_multi_tenant = true'})
      }
    } else if (c.cc_gitlab_namespace_attributes_token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cc_gitlab_namespace_attributes_token'],
        message:
          'required when cc_multi_tenant = true: a GitLab token that can read the custom attributes of top-level groups',
      })
    }
    if (c.cc_auth_scheme === 'oauth1') {
      for (const key of ['cc_oauth_consumer_key', 'cc_oauth_consumer_secret', 'cc_oauth_token_secret'] as const) {
        if (c[key] === undefined)
          ctx.addIssue({code: 'custom', path: [key], message: 'required when cc_auth_scheme = "oauth1"'})
      }
    }
  })

export type CleverConfig = z.infer<typeof cleverConfigSchema>

/** Keys of the clever-docker section whose values are secrets. */
export const CLEVER_SECRET_KEYS = [
  'cc_token',
  'cc_gitlab_namespace_attributes_token',
  'cc_oauth_consumer_secret',
  'cc_oauth_token_secret',
] as const
