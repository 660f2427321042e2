import { describe, expect, it } from 'vitest'
import { planDevServer } from './framework-command.ts'

const VITE_FLAGS = '--port $PORT --strictPort --host 127.0.0.1'
const command = (line: string, scripts?: Record<string, string>) =>
  planDevServer(line, { scripts })?.command

describe('planDevServer: finding the tool', () => {
  it('runs directly, by path, through node, exec, env and cross-env', () => {
    expect(command('vite')).toBe(`vite ${VITE_FLAGS}`)
    expect(command('./node_modules/.bin/vite dev')).toBe(
      `./node_modules/.bin/vite dev ${VITE_FLAGS}`,
    )
    expect(command('node node_modules/vite/bin/vite.js')).toBe(
      `node node_modules/vite/bin/vite.js ${VITE_FLAGS}`,
    )
    expect(command('exec vite')).toBe(`exec vite ${VITE_FLAGS}`)
    expect(command('NODE_ENV=development cross-env DEBUG=1 vite')).toBe(
      `NODE_ENV=development cross-env DEBUG=1 vite ${VITE_FLAGS}`,
    )
    expect(command('env -i A=b vite')).toBe(`env -i A=b vite ${VITE_FLAGS}`)
  })

  it('looks through npx, pnpm exec|dlx, yarn exec|dlx, bunx, bun x and npm exec --', () => {
    for (const runner of [
      'npx',
      'npx --yes',
      'npx -p vite',
      'pnpm exec',
      'pnpm dlx',
      'yarn exec',
      'yarn dlx',
      'bunx',
      'bunx --bun',
      'bun x',
      'npm exec --',
      'pnpx',
    ]) {
      expect(command(`${runner} vite`), runner).toBe(`${runner} vite ${VITE_FLAGS}`)
    }
    expect(command('npx vite@6 --open')).toBe(`npx vite@6 --open ${VITE_FLAGS}`)
    // npm exec without `--` would take --port for itself: left alone.
    expect(planDevServer('npm exec vite')).toBeUndefined()
  })

  it('finds the server among chained commands and inserts in place', () => {
    expect(command('cd web && npx vite > vite.log 2>&1')).toBe(
      `cd web && npx vite ${VITE_FLAGS} > vite.log 2>&1`,
    )
    expect(command('vite build && vite preview | tee log')).toBe(
      `vite build && vite preview ${VITE_FLAGS} | tee log`,
    )
    expect(command('vite --open -- extra')).toBe(`vite --open ${VITE_FLAGS} -- extra`)
  })

  it('leaves unknown commands and syntax it cannot read alone', () => {
    expect(planDevServer('python3 -m http.server $PORT')).toBeUndefined()
    expect(planDevServer('node server.js')).toBeUndefined()
    expect(planDevServer('vite --port $(get-port)')).toBeUndefined()
    expect(planDevServer('')).toBeUndefined()
  })

  it('adds only the flags that are missing', () => {
    expect(command('vite --host 0.0.0.0')).toBe('vite --host 0.0.0.0 --port $PORT --strictPort')
    expect(command('vite --strictPort')).toBe('vite --strictPort --port $PORT --host 127.0.0.1')
    expect(planDevServer('vite --port 5173 --host')?.added).toEqual([])
  })
})

describe('planDevServer: package.json scripts', () => {
  const scripts = {
    dev: 'vite',
    start: 'vite --open',
    'dev:chained': 'vite && echo done',
    'dev:last': 'tsc -b && vite',
    'dev:npx': 'npx vite',
    'dev:piped': 'vite | tee log',
    'dev:dashes': 'vite --',
    build: 'vite build',
    api: 'node server.js',
  }

  it('passes the flags through npm run (after --), pnpm, yarn and bun', () => {
    expect(command('npm run dev', scripts)).toBe(`npm run dev -- ${VITE_FLAGS}`)
    expect(command('npm start', scripts)).toBe(`npm start -- ${VITE_FLAGS}`)
    expect(command('npm run dev -- --open', scripts)).toBe(`npm run dev -- --open ${VITE_FLAGS}`)
    expect(command('pnpm dev', scripts)).toBe(`pnpm dev ${VITE_FLAGS}`)
    expect(command('pnpm run dev', scripts)).toBe(`pnpm run dev ${VITE_FLAGS}`)
    expect(command('yarn dev', scripts)).toBe(`yarn dev ${VITE_FLAGS}`)
    expect(command('bun run dev', scripts)).toBe(`bun run dev ${VITE_FLAGS}`)
    expect(command('npm run dev:last', scripts)).toBe(`npm run dev:last -- ${VITE_FLAGS}`)
    expect(command('npm run dev:npx', scripts)).toBe(`npm run dev:npx -- ${VITE_FLAGS}`)
  })

  it('counts flags given to the package manager as the user’s', () => {
    expect(planDevServer('npm run dev -- --port 3000', { scripts })?.added).toEqual([
      '--host',
      '127.0.0.1',
    ])
  })

  it('reports but does not touch a script that does not end with the tool', () => {
    for (const name of ['dev:chained', 'dev:piped', 'dev:dashes']) {
      const plan = planDevServer(`npm run ${name}`, { scripts })
      expect(plan?.tool, name).toBe('vite')
      expect(plan?.command, name).toBe(`npm run ${name}`)
      expect(plan?.skipped, name).toMatch(/does not end with it|passed on/)
    }
    expect(planDevServer('pnpm dev -- --open', { scripts })?.skipped).toMatch(/passed on as is/)
  })

  it('leaves builds, non-tool scripts and unknown scripts alone', () => {
    expect(planDevServer('npm run build', { scripts })).toBeUndefined()
    expect(planDevServer('npm run api', { scripts })).toBeUndefined()
    expect(planDevServer('npm run nope', { scripts })).toBeUndefined()
    expect(planDevServer('npm run dev')).toBeUndefined()
  })

  it('treats `pnpm vite` and `yarn vite` as the bin when no script has that name', () => {
    expect(command('pnpm vite', scripts)).toBe(`pnpm vite ${VITE_FLAGS}`)
    expect(command('yarn vite dev', {})).toBe(`yarn vite dev ${VITE_FLAGS}`)
  })
})

describe('planDevServer: the framework option', () => {
  it('forces a tool onto a command it does not recognise', () => {
    expect(planDevServer('./dev.sh --open', { force: 'astro' })?.command).toBe(
      './dev.sh --open --port $PORT --host 127.0.0.1',
    )
    expect(planDevServer('npx my-vite', { force: 'vite' })?.command).toBe(
      `npx my-vite ${VITE_FLAGS}`,
    )
  })
})
