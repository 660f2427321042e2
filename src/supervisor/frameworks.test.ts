import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { planDevServer } from './framework-command.ts'
import {
  DEV_SERVER_NAMES,
  DEV_SERVERS,
  type DevServerName,
  flagsFor,
  hasOption,
} from './frameworks.ts'

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/**
 * One case per row of the table: a command that starts its server (and what it becomes), one
 * that does not (a build: nothing added), and one whose port the user set (left alone).
 */
const ROWS: Record<
  DevServerName,
  { serve: string; becomes: string; build: string; given: string; env?: Record<string, string> }
> = {
  vite: {
    serve: 'vite --open',
    becomes: 'vite --open --port $PORT --strictPort --host 127.0.0.1',
    build: 'vite --mode production build',
    given: 'vite --port=5173',
  },
  'react-router': {
    serve: 'react-router dev',
    becomes: 'react-router dev --port $PORT --strictPort --host 127.0.0.1',
    build: 'react-router build',
    given: 'react-router dev --port 4000 --host',
  },
  remix: {
    serve: 'remix vite:dev',
    becomes: 'remix vite:dev --port $PORT --strictPort --host 127.0.0.1',
    build: 'remix vite:build',
    given: 'remix vite:dev --port 3000',
  },
  vinxi: {
    serve: 'vinxi dev',
    becomes: 'vinxi dev --port $PORT',
    build: 'vinxi build',
    given: 'vinxi dev --port=3001',
  },
  astro: {
    serve: 'astro dev',
    becomes: 'astro dev --port $PORT --host 127.0.0.1',
    build: 'astro build',
    given: 'astro preview --port 4321',
  },
  angular: {
    serve: 'ng serve',
    becomes: 'ng serve --port $PORT --host 127.0.0.1',
    build: 'ng build',
    given: 'ng serve --port 4200',
  },
  rsbuild: {
    serve: 'rsbuild',
    becomes: 'rsbuild --port $PORT --host 127.0.0.1',
    build: 'rsbuild build',
    given: 'rsbuild dev --port 3000',
  },
  webpack: {
    serve: 'webpack serve --mode development',
    becomes: 'webpack serve --mode development --port $PORT --host 127.0.0.1',
    build: 'webpack --mode production',
    given: 'webpack serve --port 8080',
  },
  'webpack-dev-server': {
    serve: 'webpack-dev-server',
    becomes: 'webpack-dev-server --port $PORT --host 127.0.0.1',
    build: 'webpack-dev-server --help',
    given: 'webpack-dev-server --port 8080',
  },
  storybook: {
    serve: 'storybook dev',
    becomes: 'storybook dev --port $PORT --host 127.0.0.1',
    build: 'storybook build',
    given: 'storybook dev -p6006',
  },
  nuxt: {
    serve: 'nuxi dev',
    becomes: 'nuxi dev',
    build: 'nuxi build',
    given: 'nuxi dev --port 3000',
    env: { HOST: '127.0.0.1' },
  },
  'react-scripts': {
    serve: 'react-scripts start',
    becomes: 'react-scripts start',
    build: 'react-scripts build',
    given: 'react-scripts start',
    env: { HOST: '127.0.0.1', BROWSER: 'none' },
  },
}

describe('the dev server table', () => {
  it('has a test case for every row and a row for every name', () => {
    expect(Object.keys(ROWS).sort()).toEqual([...DEV_SERVER_NAMES].sort())
    expect(DEV_SERVERS.map((row) => row.name)).toEqual([...DEV_SERVER_NAMES])
  })

  for (const row of DEV_SERVERS) {
    describe(row.name, () => {
      const cases = ROWS[row.name]

      it('adds its flags (or variables) to a command that starts its server', () => {
        const plan = planDevServer(cases.serve)
        expect(plan?.tool).toBe(row.name)
        expect(plan?.command).toBe(cases.becomes)
        expect(plan?.env).toEqual(cases.env ?? {})
      })

      it('leaves a command that does not serve alone', () => {
        expect(planDevServer(cases.build)).toBeUndefined()
      })

      it('is listed in the README with the flags it gets', () => {
        const flags = flagsFor(row, []).join(' ')
        const line = README.split('\n').find((l) => l.startsWith(`| \`${row.name}\` |`))
        expect(line).toBeDefined()
        if (flags !== '') expect(line).toContain(`\`${flags}\``)
        for (const [key, value] of Object.entries(row.env ?? {}))
          expect(line).toContain(`\`${key}=${value}\``)
      })

      it('keeps a port the user gave', () => {
        const plan = planDevServer(cases.given)
        expect(plan?.tool).toBe(row.name)
        const added = plan?.added ?? []
        expect(hasOption(added, row.portFlags.length > 0 ? row.portFlags : ['--port'])).toBe(false)
        expect(plan?.command.startsWith(cases.given)).toBe(true)
      })
    })
  }
})

describe('hasOption', () => {
  it('matches --flag, --flag=value and -xVALUE', () => {
    expect(hasOption(['--port', '1'], ['--port'])).toBe(true)
    expect(hasOption(['--port=1'], ['--port'])).toBe(true)
    expect(hasOption(['-p3000'], ['-p', '--port'])).toBe(true)
    expect(hasOption(['--portal'], ['--port'])).toBe(false)
    expect(hasOption(['--strictPort'], ['--port'])).toBe(false)
  })
})
