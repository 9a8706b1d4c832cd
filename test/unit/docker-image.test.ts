import {describe, expect, it} from 'vitest'

import type {JobPayload} from '../../src/core/job-payload.js'
import {
  amendForDependencyProxy,
  expandVariables,
  serviceAlias,
  splitDockerDomain,
} from '@heptapod-paas-runner/plugin-api'

describe('splitDockerDomain (original-spec §5.7)', () => {
  it.each([
    ['ubuntu', 'docker.io', 'library/ubuntu'],
    ['ubuntu:22.04', 'docker.io', 'library/ubuntu:22.04'],
    ['docker.io/fooo/bar', 'docker.io', 'fooo/bar'],
    ['index.docker.io/fooo/bar', 'docker.io', 'fooo/bar'],
    ['docker.io/nginx', 'docker.io', 'library/nginx'],
    ['127.0.0.1:8000/privatebase', '127.0.0.1:8000', 'privatebase'],
    ['localhost/foo', 'localhost', 'foo'],
    ['Foo/bar', 'Foo', 'bar'],
    ['tutum/wordpress', 'docker.io', 'tutum/wordpress'],
    ['registry.example.com/x/y:1', 'registry.example.com', 'x/y:1'],
  ])('%s → (%s, %s)', (name, domain, rest) => {
    expect(splitDockerDomain(name)).toEqual([domain, rest])
  })
})

describe('expandVariables (Go os.Expand)', () => {
  const vars = new Map([
    ['FOO-BAR', 'x'],
    ['FOO-${BAR', 'v'],
    ['IMG', 'debian'],
    ['TAG', '${V}'],
    ['V', '12'],
    ['LOOP', '$LOOP'],
  ])
  it.each([
    ['somethin-$FOO-BAR-hop', 'somethin--BAR-hop'],
    ['${FOO-${BAR}}', 'v}'],
    ['$IMG:$TAG', 'debian:12'],
    ['${IMG}', 'debian'],
    ['no vars', 'no vars'],
    ['trailing $', 'trailing $'],
    ['$LOOP', '$LOOP'], // a cycle stops, the text stays as written
  ])('%s → %s', (text, out) => {
    expect(expandVariables(text, vars)).toBe(out)
  })
})

describe('service aliases', () => {
  it.each([
    ['nginx:latest', 'nginx'],
    ['heptapod/heptapod:latest', 'heptapod-heptapod'],
    ['docker.io/library/nginx', 'docker.io-library-nginx'],
    ['tutum/wordpress', 'tutum-wordpress'],
    ['postgres@sha256:0123abcd', 'postgres'],
    ['localhost:5000/img:tag', 'localhost:5000-img'],
  ])('%s → %s', (name, alias) => {
    expect(serviceAlias(name)).toBe(alias)
  })
})

describe('dependency proxy rewriting', () => {
  const prefix = 'gitlab.example.com:443/acme/dependency_proxy/containers'
  const job = (o: Partial<JobPayload>): JobPayload => ({
    id: 1,
    token: 't',
    variables: [
      {key: 'CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX', value: prefix},
      {key: 'PG', value: 'postgres:16'},
    ],
    ...o,
  })

  it('is a no-op without a prefix, or without image and services', () => {
    const j = {id: 1, token: 't', image: {name: 'debian'}, variables: []}
    expect(amendForDependencyProxy(j)).toBe(j)
    expect(amendForDependencyProxy(job({}))).toEqual(job({}))
  })

  it('rewrites Docker Hub images, keeps others, derives missing aliases, keeps given ones', () => {
    const out = amendForDependencyProxy(
      job({
        image: {name: 'debian:bookworm', entrypoint: null},
        services: [
          {name: '$PG'},
          {name: 'heptapod/heptapod:latest'},
          {name: 'nginx', alias: 'web'},
          {name: 'registry.example.com/x/y:1'},
          {alias: 'nameless'},
        ],
      }),
    )
    expect(out.image).toEqual({name: `${prefix}/library/debian:bookworm`, entrypoint: null})
    expect(out.services).toEqual([
      {name: `${prefix}/library/postgres:16`, alias: 'postgres'},
      {name: `${prefix}/heptapod/heptapod:latest`, alias: 'heptapod-heptapod'},
      {name: `${prefix}/library/nginx`, alias: 'web'},
      {name: 'registry.example.com/x/y:1'},
      {alias: 'nameless'},
    ])
    // Idempotent: rewritten names no longer look like Docker Hub.
    expect(amendForDependencyProxy(out)).toEqual(out)
  })

  it('keeps a non-Hub main image as written', () => {
    expect(amendForDependencyProxy(job({image: {name: 'registry.example.com/base:1'}})).image).toEqual({
      name: 'registry.example.com/base:1',
    })
  })
})
