/** @module The dev servers that ignore PORT, and the flags (or variables) that make each listen where Portico says. */

import { DEV_SERVER_NAMES, type DevServerName } from '../config/schema.ts'

export { DEV_SERVER_NAMES, type DevServerName }

/** The address Portico asks dev servers to bind: loopback, IPv4 (the edge dials 127.0.0.1 first). */
export const DEV_SERVER_HOST = '127.0.0.1'

/**
 * DevServer is one row of the table: how to recognise the tool in a command line, when that
 * command runs its server (not a build), and what to add so it listens on `$PORT` on loopback.
 */
export interface DevServer {
  name: DevServerName
  /** Executable names (basenames) that run it. */
  bins: readonly string[]
  /** What runs on it, for logs and the README. */
  serves: string
  /** Subcommands that start a server (dev or preview). */
  serverCommands: readonly string[]
  /** Whether the bare command (no subcommand) starts the server. */
  bareIsServer: boolean
  /** Whether any other first positional is a project root (`vite ./app`), not a subcommand. */
  rootArgIsServer?: boolean
  /** Subcommands that never serve, when `rootArgIsServer` is set (`vite build`). */
  nonServerCommands?: readonly string[]
  /** Flags that take a value, so `--mode ssr` is not read as the subcommand `ssr`. */
  valueFlags: readonly string[]
  /** Spellings of its port flag, the first one added (`--port $PORT`) when none is given. Empty: reads PORT. */
  portFlags: readonly string[]
  /** Added with the port flag: fail instead of silently taking another port. */
  strictPortFlag?: string
  /** Spellings of its bind-address flag, the last one added (`--host 127.0.0.1`) when none is given. */
  hostFlags: readonly string[]
  /** Variables it reads instead of flags (set unless the app's `.env` or `env` sets them). */
  env?: Readonly<Record<string, string>>
}

/** Value flags every Vite-based CLI shares (config, mode, base, log level, host, port, open). */
const VITE_VALUE_FLAGS = [
  '-c',
  '--config',
  '--base',
  '-l',
  '--logLevel',
  '--configLoader',
  '-d',
  '--debug',
  '-f',
  '--filter',
  '-m',
  '--mode',
  '--host',
  '--port',
  '--open',
  '--outDir',
  '--assetsDir',
]

/** Vite's own flags: `--port N --strictPort --host 127.0.0.1`. */
const VITE_FLAGS = {
  portFlags: ['--port'],
  strictPortFlag: '--strictPort',
  hostFlags: ['--host'],
} as const

/**
 * DEV_SERVERS is the table. Frameworks built on Vite (SvelteKit, Qwik, Solid, Vue, Preact, Lit,
 * Analog) run `vite` itself and are covered by its row. Next.js and Express-style servers read
 * PORT and need no row.
 */
export const DEV_SERVERS: readonly DevServer[] = [
  {
    name: 'vite',
    bins: ['vite'],
    serves: 'Vite, SvelteKit, Qwik, Solid, Vue, Preact, Lit (vite dev / serve / preview)',
    serverCommands: ['dev', 'serve', 'preview'],
    bareIsServer: true,
    rootArgIsServer: true,
    nonServerCommands: ['build', 'optimize'],
    valueFlags: VITE_VALUE_FLAGS,
    ...VITE_FLAGS,
  },
  {
    name: 'react-router',
    bins: ['react-router'],
    serves: 'React Router 7 framework mode (react-router dev)',
    serverCommands: ['dev'],
    bareIsServer: false,
    valueFlags: VITE_VALUE_FLAGS,
    ...VITE_FLAGS,
  },
  {
    name: 'remix',
    bins: ['remix'],
    serves: 'Remix on Vite (remix vite:dev)',
    serverCommands: ['vite:dev'],
    bareIsServer: false,
    valueFlags: VITE_VALUE_FLAGS,
    ...VITE_FLAGS,
  },
  {
    name: 'vinxi',
    bins: ['vinxi'],
    serves: 'SolidStart, TanStack Start (vinxi dev)',
    serverCommands: ['dev'],
    bareIsServer: false,
    valueFlags: ['--config', '--port', '--stack'],
    portFlags: ['--port'],
    // vinxi's --host is a switch (all interfaces), not an address: left out; a ::1 listener is found anyway.
    hostFlags: [],
  },
  {
    name: 'astro',
    bins: ['astro'],
    serves: 'Astro (astro dev / preview)',
    serverCommands: ['dev', 'preview'],
    bareIsServer: false,
    valueFlags: ['--root', '--config', '--site', '--base', '--port', '--host', '--open'],
    portFlags: ['--port'],
    hostFlags: ['--host'],
  },
  {
    name: 'angular',
    bins: ['ng'],
    serves: 'Angular CLI (ng serve)',
    serverCommands: ['serve', 's', 'dev'],
    bareIsServer: false,
    valueFlags: ['-c', '--configuration', '--port', '--host', '--ssl-cert', '--ssl-key'],
    portFlags: ['--port'],
    hostFlags: ['--host'],
  },
  {
    name: 'rsbuild',
    bins: ['rsbuild'],
    serves: 'Rsbuild (rsbuild dev / preview)',
    serverCommands: ['dev', 'preview'],
    bareIsServer: true,
    rootArgIsServer: false,
    valueFlags: ['-c', '--config', '-r', '--root', '-m', '--mode', '--env-mode', '--env-dir'],
    portFlags: ['--port'],
    hostFlags: ['--host'],
  },
  {
    name: 'webpack',
    bins: ['webpack', 'webpack-cli'],
    serves: 'webpack-dev-server through webpack-cli (webpack serve)',
    serverCommands: ['serve', 'server', 's'],
    bareIsServer: false,
    valueFlags: ['-c', '--config', '--mode', '--env', '--entry', '-o', '--output-path'],
    portFlags: ['--port'],
    hostFlags: ['--host'],
  },
  {
    name: 'webpack-dev-server',
    bins: ['webpack-dev-server'],
    serves: 'webpack-dev-server',
    serverCommands: [],
    bareIsServer: true,
    valueFlags: ['-c', '--config', '--mode', '--env'],
    portFlags: ['--port'],
    hostFlags: ['--host'],
  },
  {
    name: 'storybook',
    bins: ['storybook'],
    serves: 'Storybook (storybook dev)',
    serverCommands: ['dev'],
    bareIsServer: false,
    valueFlags: ['-p', '--port', '-h', '--host', '-c', '--config-dir'],
    portFlags: ['--port', '-p'],
    hostFlags: ['-h', '--host'],
  },
  {
    name: 'nuxt',
    bins: ['nuxi', 'nuxt', 'nuxt-cli'],
    serves: 'Nuxt (nuxi dev): reads PORT and HOST',
    serverCommands: ['dev', 'preview'],
    bareIsServer: false,
    valueFlags: ['--cwd', '--dotenv', '--envName'],
    portFlags: [],
    hostFlags: [],
    env: { HOST: DEV_SERVER_HOST },
  },
  {
    name: 'react-scripts',
    bins: ['react-scripts'],
    serves: 'Create React App (react-scripts start): reads PORT and HOST',
    serverCommands: ['start'],
    bareIsServer: false,
    valueFlags: [],
    portFlags: [],
    hostFlags: [],
    env: { HOST: DEV_SERVER_HOST, BROWSER: 'none' },
  },
]

const BY_BIN = new Map(DEV_SERVERS.flatMap((tool) => tool.bins.map((bin) => [bin, tool] as const)))
const BY_NAME = new Map(DEV_SERVERS.map((tool) => [tool.name, tool] as const))

/** devServerByBin returns the row whose executable is `bin` (a basename), or undefined. */
export function devServerByBin(bin: string): DevServer | undefined {
  return BY_BIN.get(bin)
}

/** devServerByName returns the row named `name`. */
export function devServerByName(name: DevServerName): DevServer {
  return BY_NAME.get(name) as DevServer
}

/** hasOption reports whether `args` carry one of `names` (`--port 1`, `--port=1`, `-p1`). */
export function hasOption(args: readonly string[], names: readonly string[]): boolean {
  return args.some((arg) =>
    names.some(
      (name) =>
        arg === name ||
        arg.startsWith(`${name}=`) ||
        (!name.startsWith('--') && name.length === 2 && arg.startsWith(name) && arg.length > 2),
    ),
  )
}

/** Flags with which no tool starts a server. */
const NEVER_SERVES = ['--help', '--version']

/**
 * isServerInvocation reports whether `args` (what follows the executable, up to a `--`) make the
 * tool start its server: the first positional (values of `valueFlags` skipped) is a server
 * subcommand, or absent for a tool whose bare command serves, or a project root for Vite.
 */
export function isServerInvocation(tool: DevServer, args: readonly string[]): boolean {
  if (hasOption(args, NEVER_SERVES)) return false
  const valueFlags = [...tool.valueFlags, ...tool.portFlags, ...tool.hostFlags]
  let subcommand: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--') break
    if (!arg.startsWith('-')) {
      subcommand = arg
      break
    }
    if (!arg.includes('=') && valueFlags.includes(arg)) i++
  }
  if (subcommand === undefined) return tool.bareIsServer
  if (tool.serverCommands.includes(subcommand)) return true
  return tool.rootArgIsServer === true && !(tool.nonServerCommands ?? []).includes(subcommand)
}

/**
 * flagsFor returns what to add to a server invocation whose own flags are `given`: `--port $PORT`
 * (and its strict-port switch) unless a port flag is there, `--host 127.0.0.1` unless a host
 * flag is there. `$PORT` is left for the shell to expand.
 */
export function flagsFor(tool: DevServer, given: readonly string[]): string[] {
  const flags: string[] = []
  const [portFlag] = tool.portFlags
  if (portFlag !== undefined && !hasOption(given, tool.portFlags)) {
    flags.push(portFlag, '$PORT')
    const strict = tool.strictPortFlag
    if (strict !== undefined && !hasOption(given, [strict])) flags.push(strict)
  }
  const hostFlag = tool.hostFlags.at(-1)
  if (hostFlag !== undefined && !hasOption(given, tool.hostFlags)) {
    flags.push(hostFlag, DEV_SERVER_HOST)
  }
  return flags
}
