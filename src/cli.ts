/** @module The portico command: argv → dev | start | init | trust | untrust | operator commands; parse, call, print, exit code. No logic. */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from './config/load.ts'
import { insecureParserSource } from './config/runtime-check.ts'
import { appHostnames, type Config } from './config/schema.ts'
import {
  defaultCaDir,
  type Mode,
  resolveConfigPath,
  resolveSettings,
  type Settings,
} from './config/settings.ts'
import { PorticoError } from './errors.ts'
import { runHashPassword } from './hash-password-command.ts'
import { initConfig } from './init/config-file.ts'
import { createLogger, flushLogger } from './observe/log.ts'
import { createOutputPrinter } from './observe/output.ts'
import { apiTarget, isOperatorCommand, runOperatorCommand } from './operator.ts'
import { createPortico, type Portico } from './portico.ts'
import { assertBindable, describeListenError, type PlannedListener } from './proxy/bind-check.ts'
import { runStartup } from './startup/command.ts'
import { runTrust } from './trust/trust.ts'

const USAGE = `Usage: portico <dev|start> [--config FILE]
       portico init [--config FILE]
       portico trust [--check] [--ca FILE] | portico untrust [--ca FILE]
       portico <status|apps|routes> [--api URL]
       portico <start|stop|restart|reload|logs> <app> [--api URL] [--tail N]
       portico scale <app> <instances> [--api URL]
       portico reload-config [--api URL]
       portico startup [--config FILE] [--user NAME] [--install [--unit-path FILE]]
       portico open [--api URL]
       portico hash-password   (reads a password from stdin, prints an auth.basic hash)

  dev     run the apps in the config with a local development CA (https://<name>.localhost:8443)
  start   production mode: certificates from certs/ only (with an <app>: start that app)
  open    print the dashboard's URL and open it in a browser ($BROWSER, xdg-open or open)
  init    write a commented apps.config.ts from package.json scripts and workspaces
  trust   trust the dev CA in the system store and in Chrome/Chromium and Firefox (NSS);
          --check: say which stores trust it (exit 0 once all do); untrust: remove it everywhere

  reload-config   re-read the config file of a running Portico and apply it (POST /config/reload)
  startup         print a systemd unit for this config; --install writes it (default
                  /etc/systemd/system/portico.service)

Operator commands talk to a running Portico's admin API (default http://127.0.0.1:$PORTICO_API_PORT
or :8844; the bearer token comes from $PORTICO_API_TOKEN).

Options:
  -c, --config FILE   config file (.ts, .js, .mjs, .json); default $PORTICO_CONFIG or ./apps.config.ts
      --api URL       admin API base URL for operator commands
      --tail N        lines for logs (default 100)
  -h, --help          show this help
`

function fatal(error: unknown): never {
  const failed = error as NodeJS.ErrnoException & { syscall?: string }
  const known =
    error instanceof PorticoError
      ? error
      : failed?.syscall === 'listen'
        ? describeListenError(failed)
        : undefined
  const message =
    known !== undefined
      ? `${known.code}: ${known.message}`
      : String(error instanceof Error ? (error.stack ?? error.message) : error)
  process.stderr.write(`portico: ${message}\n`)
  process.exit(1)
}

/** `portico trust [--check] [--ca FILE]` and `portico untrust [--ca FILE]`: one line per store. */
async function trustCommand(
  command: 'trust' | 'untrust',
  values: { check?: boolean | undefined; ca?: string | undefined },
): Promise<never> {
  const action = command === 'untrust' ? 'untrust' : values.check ? 'check' : 'trust'
  const report = await runTrust(action, {
    caDir: defaultCaDir(process.env, process.cwd()),
    caFile: values.ca === undefined ? undefined : path.resolve(values.ca),
  })
  process.stdout.write(report.lines.map((line) => `portico: ${line}\n`).join(''))
  process.exit(report.exitCode)
}

/** `portico init [--config FILE]`: writes the config, says what is in it and what comes next. */
async function initCommand(config: string | undefined): Promise<never> {
  const file = path.resolve(config ?? 'apps.config.ts')
  const { apps } = await initConfig(file)
  const list =
    apps.length > 0 ? `: ${apps.join(', ')}` : ' (no dev or start script found; see the comments)'
  process.stdout.write(
    `portico: wrote ${file} with ${apps.length} app(s)${list}\nportico: next: portico trust (once per machine), then portico dev\n`,
  )
  process.exit(0)
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      api: { type: 'string' },
      tail: { type: 'string' },
      check: { type: 'boolean' },
      ca: { type: 'string' },
      user: { type: 'string' },
      install: { type: 'boolean' },
      'unit-path': { type: 'string' },
    },
  })
  const command = positionals[0]
  if (command === 'trust' || command === 'untrust') await trustCommand(command, values)
  if (command === 'init') await initCommand(values.config)
  if (command === 'open' && !values.help) {
    const { openDashboard } = await import('./open.ts')
    const result = await openDashboard(apiTarget(values.api, process.env))
    ;(result.ok ? process.stdout : process.stderr).write(`${result.text}\n`)
    process.exit(result.ok ? 0 : result.exitCode)
  }
  if (command === 'hash-password') process.exit(await runHashPassword())
  // `start` alone runs Portico; `start <app>` (like every operator command) asks a running one.
  if (isOperatorCommand(command) && !(command === 'start' && positionals.length === 1)) {
    const result = await runOperatorCommand(
      command,
      positionals.slice(1),
      apiTarget(values.api, process.env),
      Number(values.tail ?? 100),
    )
    ;(result.ok ? process.stdout : process.stderr).write(`${result.text}\n`)
    process.exit(result.ok ? 0 : result.exitCode)
  }
  if (command === 'startup' && !values.help) {
    const text = await runStartup({
      configFlag: values.config,
      user: values.user,
      install: values.install === true,
      unitPath: values['unit-path'],
      env: process.env,
      cwd: process.cwd(),
    })
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
    process.exit(0)
  }
  if (values.help || (command !== 'dev' && command !== 'start')) {
    process.stdout.write(USAGE)
    process.exit(values.help ? 0 : 2)
  }
  const mode: Mode = command
  const lenient = insecureParserSource(process.execArgv, process.env.NODE_OPTIONS)
  if (lenient !== undefined) {
    process.stderr.write(
      `portico: refusing to run with --insecure-http-parser (set in ${lenient}): it lets smuggled requests through the edge\n`,
    )
    process.exit(1)
  }
  const configPath = resolveConfigPath(values.config, process.env, process.cwd())
  const config = await loadConfig(configPath)
  const settings = resolveSettings(config, configPath, process.env, mode)
  // A refused or taken port is one clear line before anything starts, never a stack trace.
  await assertBindable(plannedListeners(settings))
  const prettyLog = mode === 'dev' && process.stdout.isTTY === true
  const log = createLogger({ level: settings.logLevel, pretty: prettyLog })
  const portico = await createPortico(settings, config, {
    log,
    prettyLog,
    ...(mode === 'dev' ? { onOutput: createOutputPrinter(process.stdout) } : {}),
  })
  announce(portico, config)
  handleSignals(portico, log)
}

/** plannedListeners lists the ports Portico is about to open, with the variable that moves each. */
function plannedListeners(settings: Settings): PlannedListener[] {
  return [
    { name: 'https', host: settings.bind, port: settings.httpsPort, setting: 'PORTICO_HTTPS_PORT' },
    { name: 'http', host: settings.bind, port: settings.httpPort, setting: 'PORTICO_HTTP_PORT' },
    { name: 'api', host: settings.apiHost, port: settings.apiPort, setting: 'PORTICO_API_PORT' },
  ]
}

/** announce prints the bound ports (one line tests and scripts parse) and a URL per site. */
function announce(portico: Portico, config: Config): void {
  const { https, http, api } = portico.ports
  const port = https === 443 ? '' : `:${https}`
  const sites = [
    ...config.apps.flatMap((app) =>
      appHostnames(app).map((host) => [host, `app ${app.name}`] as const),
    ),
    ...config.routes.map(
      (route) => [route.vHost, route.app ? `app ${route.app}` : 'backends'] as const,
    ),
  ]
  const lines = sites.map(([host, what]) => `  https://${host}${port}/  → ${what}\n`).join('')
  process.stdout.write(
    `portico: ${config.apps.length} app(s); https on :${https}, http on :${http}, api on http://127.0.0.1:${api}/api/v1\n${lines}`,
  )
}

function handleSignals(portico: Portico, log: ReturnType<typeof createLogger>): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Second Ctrl-C: no more draining, but never leave an app behind.
      log.warn({ signal }, 'forced exit: killing every app now')
      portico.killNow()
      flushLogger(log)
      process.exit(0)
    }
    stopping = true
    log.info({ signal }, 'stopping: draining requests, then stopping apps (Ctrl-C again to force)')
    portico.stop().then(
      () => {
        flushLogger(log)
        process.exit(0)
      },
      (error: unknown) => {
        log.error({ err: error }, 'stop failed; killing apps')
        portico.killNow()
        flushLogger(log)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

main(process.argv.slice(2)).catch(fatal)
