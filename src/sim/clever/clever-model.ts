import type {InnerRunResult} from '../common/inner-runner.js'
import {flavorWire, type CleverFlavor, type VariantRule} from './clever-catalogue.js'

export type DeploymentState = 'WIP' | 'OK' | 'FAIL' | 'CANCELLED' | 'TASK_RUNNING'
export type InstanceState = 'DEPLOYING' | 'TASK_IN_PROGRESS' | 'UP' | 'STOPPING' | 'DELETED'

/** A v2 deployment (clever-api.md §3.8). */
export interface SimDeployment {
  id: number
  uuid: string
  date: number
  state: DeploymentState
  action: 'DEPLOY' | 'UNDEPLOY'
  commit: string
  cause: string
  instances: number
}

/** A v2 instance (clever-api.md §3.8). */
export interface SimInstance {
  id: string
  state: InstanceState
  deployId: string
  deployNumber: number
  commit: string
  creationDate: number
  flavor: CleverFlavor
}

export interface SimApp {
  id: string
  ownerId: string
  name: string
  description: string
  zone: string
  rule: VariantRule
  /** The max flavor (the size the app runs at). */
  flavor: CleverFlavor
  minFlavor: CleverFlavor
  minInstances: number
  maxInstances: number
  instanceVersion: string
  lifetime: string
  repoState: 'CREATING' | 'CREATED'
  state: string
  env: Record<string, string>
  tags: string[]
  createdAt: number
  /** What was pushed to master: commit, the build context files, and the app's environment at that moment. */
  pushed?: {sha: string; files: Record<string, string>; env: Record<string, string>}
  /** The simulated inner runner's outcome for the job it ran. */
  ran?: InnerRunResult
  stuckInCreating?: boolean
  deployments: SimDeployment[]
  instances: SimInstance[]
  /** The task sent its job's final report (success or failure) to GitLab. */
  finalReported?: boolean
  /** Stops the inner runner of the current deployment (the app is deleted or stopped). */
  abort?: AbortController
}

const PUSH_HOST = 'push-n3-par-clevercloud-customers.services.clever-cloud.com'

/** The Application object (clever-api.md §3.2); `gitBase` is the simulator's git server. */
export function appWire(a: SimApp, gitBase: string): Record<string, unknown> {
  const ctx = a.rule.flavorContext
  const max = flavorWire(a.flavor, ctx)
  const min = flavorWire(a.minFlavor, ctx)
  const sshUrl = `git+ssh://git@${PUSH_HOST}/${a.id}.git`
  const last = a.deployments.at(-1)
  return {
    id: a.id,
    ownerId: a.ownerId,
    name: a.name,
    description: a.description,
    zone: a.zone,
    zoneId: a.zone,
    instance: {
      type: 'docker',
      version: a.instanceVersion,
      variant: a.rule.variant,
      minInstances: a.minInstances,
      maxInstances: a.maxInstances,
      maxAllowedInstances: 40,
      minFlavor: min,
      maxFlavor: max,
      flavors: [min, max],
      defaultEnv: {},
      lifetime: a.lifetime,
      instanceAndVersion: `docker-${a.instanceVersion}`,
    },
    deployment: {
      type: 'GIT',
      repoState: a.repoState,
      url: sshUrl,
      httpUrl: `${gitBase}/${a.id}.git`,
      shutdownable: false,
    },
    deployUrl: sshUrl,
    vhosts: [{fqdn: `${a.id.replace(/_/g, '-')}.cleverapps.io/`}],
    creationDate: a.createdAt,
    last_deploy: a.deployments.length,
    state: a.state,
    commitId: last?.commit ?? null,
    branch: 'master',
    env: Object.entries(a.env).map(([name, value]) => ({name, value})),
    buildFlavor: max,
    separateBuild: false,
    cancelOnPush: false,
    archived: false,
    stickySessions: false,
    homogeneous: false,
    favourite: false,
    forceHttps: 'DISABLED',
    webhookUrl: null,
    webhookSecret: null,
    appliance: null,
  }
}

export function deploymentWire(d: SimDeployment): Record<string, unknown> {
  return {...d, author: {id: 'user_sim', name: 'simulated'}}
}

export function instanceWire(a: SimApp, i: SimInstance, index: number): Record<string, unknown> {
  return {
    id: i.id,
    appId: a.id,
    ip: '10.2.0.1',
    appPort: 8080,
    state: i.state,
    flavor: {name: i.flavor.name, mem: i.flavor.mem, cpus: i.flavor.cpus, price: 0.1},
    commit: i.commit,
    deployNumber: i.deployNumber,
    deployId: i.deployId,
    instanceNumber: index,
    displayName: `Docker ${index}`,
    creationDate: i.creationDate,
  }
}

/** An application in `GET /summary` (clever-api.md §6.1). */
export function appSummary(a: SimApp): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    instanceType: 'docker',
    instanceVariant: a.rule.variant.id,
    variantSlug: a.rule.variant.slug,
    archived: false,
    homogeneous: false,
    variantLogoUrl: '',
    state: a.state,
    commit: a.deployments.at(-1)?.commit ?? null,
    systemTags: [],
    customerTags: [...a.tags],
  }
}
