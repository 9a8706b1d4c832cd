import {z} from 'zod'

import {bounded, documented} from '@heptapod-paas-runner/plugin-api'

/** Default Clever Cloud API base, as in the original. */
export const DEFAULT_CC_API_URL = 'https://api.clever-cloud.com/v2'
/** "Heptapod Runner" instance variant of Clever's Docker runtime. */
export const DEFAULT_INSTANCE_VARIANT = '70d676a0-a775-4dc9-a43d-3121036e8515'

const envValue = z.union([z.string(), z.number(), z.boolean()])

/**
 * The clever-docker executor's own keys in a `[[runners]]` section, each with its doc line (the
 * README's table is checked against them). None of them is forwarded to the inner runner: they
 * hold the organisation's credentials.
 */
export const cleverConfigSchema = z
  .object({
    cc_api_url: documented(
      z
        .string()
        .regex(/^https?:\/\/\S+$/, 'must be an http(s) URL')
        .default(DEFAULT_CC_API_URL),
      'Clever Cloud API base URL',
    ),
    cc_zone: documented(z.string().min(1).default('par'), 'zone of the applications'),
    cc_default_flavor: documented(z.string().min(1).default('M'), 'flavor of jobs without `CI_CLEVER_CLOUD_FLAVOR`'),
    cc_max_flavor: documented(
      z.string().min(1).optional(),
      'heaviest flavor a job may ask for; also the free weight needed to poll',
    ),
    cc_flavor_context: documented(z.string().min(1).default('heptapod-runner'), '`context` of the flavor list'),
    cc_flavor_name_prefix: documented(
      z.string().optional(),
      'flavors keep this prefix; the rest is the name jobs use',
      '`<cc_flavor_context>-`',
    ),
    cc_instance_variant_uuid: documented(
      z.string().min(1).default(DEFAULT_INSTANCE_VARIANT),
      'instance variant of the applications',
      '`70d676a0-…-3121036e8515`',
    ),
    cc_auth_user: documented(z.string().min(1).default('Jenkins'), 'git user of the deployment repository'),
    cc_extra_env: documented(
      z.record(z.string(), envValue).default({}),
      'extra environment of the application; `CC_ENABLE_HEPTAPOD_RUNNER = "true"` is needed',
    ),
    cc_deployment_repo_timeout: documented(
      bounded({min: 1, max: 3600, unit: 'seconds'}).default(20),
      'seconds to wait for the deployment repository',
    ),
    cc_deployment_repo_wait_step: documented(
      bounded({min: 0.01, max: 600, unit: 'seconds'}).default(2),
      'seconds between two checks of it',
    ),
    cc_orga_id: documented(
      z.string().min(1).optional(),
      'the organisation of every application (single-organisation mode)',
      'required unless multi-tenant',
    ),
    cc_token: documented(
      z.string().min(1).optional(),
      "the organisation's API token, also the git password (secret)",
      'required unless multi-tenant',
    ),
    cc_multi_tenant: documented(
      z.boolean().default(false),
      "take organisation and token from the custom attributes of each job's top-level group",
    ),
    cc_gitlab_namespace_attributes_token: documented(
      z.string().min(1).optional(),
      'GitLab token that can read group custom attributes (secret)',
      'required when multi-tenant',
    ),
    cc_orga_id_attribute: documented(
      z.string().min(1).default('cc_orga_id'),
      'name of the group attribute holding the organisation',
    ),
    cc_orga_token_attribute: documented(
      z.string().min(1).default('cc_orga_token'),
      'name of the group attribute holding its token',
    ),
    cc_auth_scheme: documented(
      z.enum(['token', 'bearer', 'oauth1']).default('token'),
      "how `cc_token` is sent: `token` (the original's scheme), `bearer` (API token), `oauth1` (PLAINTEXT, with `cc_oauth_consumer_key`, `cc_oauth_consumer_secret`, `cc_oauth_token_secret`)",
    ),
    cc_oauth_consumer_key: documented(
      z.string().min(1).optional(),
      'OAuth1 consumer key (`cc_auth_scheme = "oauth1"`; `cc_token` is then the OAuth token)',
      'required with oauth1',
    ),
    cc_oauth_consumer_secret: documented(
      z.string().min(1).optional(),
      'OAuth1 consumer secret (secret)',
      'required with oauth1',
    ),
    cc_oauth_token_secret: documented(
      z.string().min(1).optional(),
      'OAuth1 token secret (secret)',
      'required with oauth1',
    ),
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
