import { describe, expect, it } from 'vitest'
import { diffConfig, summarizeDiff } from './diff.ts'
import { parseConfig } from './load.ts'
import { mergeOverlay, overriddenKeys } from './merge.ts'

const file = parseConfig(
  {
    apps: [
      { name: 'web', command: 'serve', instances: 2 },
      { name: 'api', command: 'api' },
    ],
    routes: [{ vHost: 'static.test', backends: [{ hostname: '127.0.0.1', port: 9000 }] }],
  },
  'file',
)

describe('mergeOverlay', () => {
  it('returns the file config when the overlay is empty', () => {
    expect(mergeOverlay(file, { apps: {}, routes: {} })).toEqual(file)
  })

  it('lets an overlay entry replace, delete or add by key', () => {
    const merged = mergeOverlay(file, {
      apps: {
        web: { name: 'web', command: 'serve --new' },
        api: null,
        docs: { name: 'docs', script: 'd.js' },
      },
      routes: { 'extra.test': { vHost: 'extra.test', app: 'docs' } },
    })
    expect(merged.apps.map((a) => a.name)).toEqual(['web', 'docs'])
    expect(merged.apps[0]).toMatchObject({ command: 'serve --new', instances: 1 })
    expect(merged.routes.map((r) => r.vHost)).toEqual(['static.test', 'extra.test'])
  })

  it('validates the merged whole: a route to a deleted app is refused with its path', () => {
    expect(() =>
      mergeOverlay(file, {
        apps: { api: null },
        routes: { 'x.test': { vHost: 'x.test', app: 'api' } },
      }),
    ).toThrow('routes[1].app: no app named "api"')
  })

  it('names the file entries the overlay overrides', () => {
    expect(overriddenKeys(file, { apps: { web: null }, routes: { 'static.test': null } })).toEqual([
      'app "web"',
      'route "static.test"',
    ])
  })
})

describe('diffConfig', () => {
  const next = (overlay: Parameters<typeof mergeOverlay>[1]) => mergeOverlay(file, overlay)

  it('finds nothing between equal configs', () => {
    const diff = diffConfig(file, next({ apps: {}, routes: {} }))
    expect(diff.empty).toBe(true)
    expect(summarizeDiff(diff)).toBe('no changes')
  })

  it('classifies reload, scale and routing changes and adds/removes', () => {
    const diff = diffConfig(
      file,
      next({
        apps: {
          web: { name: 'web', command: 'serve', instances: 3, hostnames: ['w.localhost'] },
          api: { name: 'api', command: 'api', env: { A: '1' } },
          docs: { name: 'docs', command: 'docs' },
        },
        routes: { 'static.test': null },
      }),
    )
    expect(diff.apps.added.map((a) => a.name)).toEqual(['docs'])
    const web = diff.apps.changed.find((c) => c.name === 'web')
    expect(web).toMatchObject({ reload: false, scale: true, routing: true })
    expect(diff.apps.changed.find((c) => c.name === 'api')).toMatchObject({
      reload: true,
      scale: false,
      routing: false,
    })
    expect(diff.routes.removed.map((r) => r.vHost)).toEqual(['static.test'])
    expect(summarizeDiff(diff)).toBe(
      '+app docs, ~web (scale 2→3, routing), ~api (reload), -route static.test',
    )
  })
})
