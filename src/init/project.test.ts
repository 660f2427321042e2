import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { appName, readProject } from './project.ts'

let root: string
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'portico-init-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

async function pkg(dir: string, json: object): Promise<void> {
  await mkdir(path.join(root, dir), { recursive: true })
  await writeFile(path.join(root, dir, 'package.json'), JSON.stringify(json))
}

describe('readProject', () => {
  it('takes the root package’s dev script, else its start script', async () => {
    await pkg('.', { name: 'My Site', scripts: { build: 'vite build', start: 'node server.js' } })
    expect(await readProject(root)).toEqual({
      packageManager: 'npm',
      workspaces: [],
      packages: [{ name: 'my-site', dir: '.', script: 'start', body: 'node server.js' }],
    })
  })

  it('finds npm workspaces, skips packages without a dev or start script and an orchestrating root', async () => {
    await pkg('.', { workspaces: ['apps/*', 'packages/**'], scripts: { dev: 'turbo run dev' } })
    await pkg('apps/web', { name: '@acme/web', scripts: { dev: 'vite' } })
    await pkg('apps/docs', { name: 'docs', scripts: { dev: 'astro dev' } })
    await pkg('packages/ui/lib', { name: 'ui', scripts: { build: 'tsc' } })
    await pkg('packages/api', { name: 'web', scripts: { start: 'node index.js' } })
    await writeFile(path.join(root, 'yarn.lock'), '')
    const project = await readProject(root)
    expect(project.packageManager).toBe('yarn')
    expect(project.packages.map((p) => [p.name, p.dir, p.script])).toEqual([
      ['docs', 'apps/docs', 'dev'],
      ['web', 'apps/web', 'dev'],
      ['web-2', 'packages/api', 'start'],
    ])
  })

  it('reads pnpm-workspace.yaml and keeps a root dev script that is an app itself', async () => {
    await pkg('.', { name: 'site', scripts: { dev: 'vite' } })
    await writeFile(
      path.join(root, 'pnpm-workspace.yaml'),
      'packages:\n  - \'services/*\'\n  - "!services/old" # retired\nonlyBuiltDependencies: []\n',
    )
    await pkg('services/api', { name: 'api', scripts: { dev: 'node --watch api.js' } })
    await pkg('services/old', { name: 'old', scripts: { dev: 'node old.js' } })
    const project = await readProject(root)
    expect(project.packageManager).toBe('pnpm')
    expect(project.workspaces).toEqual(['services/*', '!services/old'])
    expect(project.packages.map((p) => p.name)).toEqual(['site', 'api'])
  })

  it('yields nothing for a folder without package.json', async () => {
    expect((await readProject(root)).packages).toEqual([])
  })
})

describe('appName', () => {
  it('drops the scope and keeps what an app name allows', () => {
    expect(appName('@acme/Web App')).toBe('web-app')
    expect(appName('__x__')).toBe('x')
    expect(appName('@@@')).toBe('app')
  })
})
