// The admin API's guards and documents against the real bin: bearer token, the events stream fed by
// real instance transitions, the OpenAPI document validated against the OpenAPI 3 schema, /metrics.
import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { Validator } from '@seriousme/openapi-schema-validator'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { callApi } from '../helpers/api.ts'
import { request } from '../helpers/http.ts'
import { BIN, ROOT, type RunningPortico, startPortico } from '../helpers/portico.ts'
import { descendants, isAlive } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

const exec = promisify(execFile)
const TOKEN = 'e2e-secret-token-0123456789'
const auth = { Authorization: `Bearer ${TOKEN}` }

interface AppView {
  instances: { pid: number | null; state: string }[]
}

describe('admin API guards (end to end)', () => {
  let portico: RunningPortico
  const pids = new Set<number>()

  beforeAll(async () => {
    portico = await startPortico({
      config: path.join(ROOT, 'test/fixtures/api.config.ts'),
      env: { PORTICO_API_TOKEN: TOKEN },
    })
    await waitFor(
      async () => {
        const { body } = await callApi<AppView>(portico.ports.api, 'GET', '/apps/base', {
          headers: auth,
        })
        return body.instances?.every((i) => i.state === 'healthy')
      },
      { timeoutMs: 20_000 },
    )
  })

  afterAll(async () => {
    const { body } = await callApi<AppView>(portico.ports.api, 'GET', '/apps/base', {
      headers: auth,
    }).catch(() => ({ body: { instances: [] } }))
    for (const i of body.instances ?? [])
      if (i.pid) for (const p of [i.pid, ...descendants(i.pid)]) pids.add(p)
    if (portico.child.exitCode === null) {
      portico.child.kill('SIGINT')
      await portico.exited
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    await rm(portico.dir, { recursive: true, force: true })
  })

  it('requires the bearer token and never accepts it in the query string', async () => {
    const none = await callApi<{ error: { code: string } }>(portico.ports.api, 'GET', '/apps')
    expect(none.status).toBe(401)
    expect(none.headers['www-authenticate']).toBe('Bearer')
    expect(none.body.error.code).toBe('PTC_ERR_UNAUTHORIZED')
    expect(
      (
        await callApi(portico.ports.api, 'GET', '/apps', {
          headers: { Authorization: 'Bearer wrong' },
        })
      ).status,
    ).toBe(401)
    expect((await callApi(portico.ports.api, 'GET', `/apps?token=${TOKEN}`)).status).toBe(401)
    expect((await callApi(portico.ports.api, 'GET', '/apps', { headers: auth })).status).toBe(200)
  })

  it('refuses a cross-site browser request and a non-JSON mutation', async () => {
    const cross = await callApi(portico.ports.api, 'POST', '/apps/base/restart', {
      headers: { ...auth, Origin: 'http://evil.example' },
    })
    expect(cross.status).toBe(403)
    const text = await callApi(portico.ports.api, 'POST', '/apps/base/restart', {
      headers: { ...auth, 'Content-Type': 'text/plain' },
      raw: '{}',
    })
    expect(text.status).toBe(415)
  })

  it('streams instance state changes on /api/v1/events', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${portico.ports.api}/api/v1/events?app=base`, {
      headers: auth,
    })
    const seen: { type: string; data: { to?: string } }[] = []
    ws.on('message', (d) => seen.push(JSON.parse(d.toString())))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const restarted = await callApi(portico.ports.api, 'POST', '/apps/base/restart', {
      headers: auth,
      json: {},
    })
    expect(restarted.status).toBe(200)
    await waitFor(
      () => seen.some((e) => e.type === 'instance:state-changed' && e.data.to === 'healthy'),
      { timeoutMs: 20_000, message: 'the restart is streamed until the instance is healthy again' },
    )
    expect(seen.some((e) => e.type === 'target:down')).toBe(true)
    ws.close()
  })

  it('drives a running Portico from the portico command (operator commands over the API)', async () => {
    const api = `http://127.0.0.1:${portico.ports.api}`
    const run = (args: string[], token = TOKEN) =>
      exec(process.execPath, [BIN, ...args, '--api', api], {
        env: { ...process.env, PORTICO_API_TOKEN: token },
      }).then(
        (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({
          code: e.code,
          out: e.stdout,
          err: e.stderr,
        }),
      )
    const status = await run(['status'])
    expect(status.code).toBe(0)
    expect(status.out).toContain(`api :${portico.ports.api}`)
    const apps = await run(['apps'])
    expect(apps.out).toMatch(/^base {2}base\.localhost\n {2}base#0 +healthy/)
    const reload = await run(['reload', 'base'])
    expect(reload.code).toBe(0)
    const missing = await run(['restart', 'nope'])
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('PTC_ERR_APP_NOT_FOUND')
    const noToken = await run(['apps'], '')
    expect(noToken.code).toBe(1)
    expect(noToken.err).toContain('PTC_ERR_UNAUTHORIZED')
    await waitFor(
      async () => {
        const { body } = await callApi<AppView>(portico.ports.api, 'GET', '/apps/base', {
          headers: auth,
        })
        return body.instances?.every((i) => i.state === 'healthy')
      },
      { timeoutMs: 20_000, message: 'base is healthy again after the reload' },
    )
  })

  it('serves an OpenAPI 3 document that validates', async () => {
    const doc = await callApi<Record<string, unknown>>(portico.ports.api, 'GET', '/openapi.json', {
      headers: auth,
    })
    expect(doc.status).toBe(200)
    const result = await new Validator().validate(doc.body)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
  })

  it('serves Prometheus metrics that parse, with the request counter and latency histogram', async () => {
    for (let i = 0; i < 3; i++) await request({ port: portico.ports.http, host: 'base.localhost' })
    const res = await fetch(`http://127.0.0.1:${portico.ports.api}/metrics`, { headers: auth })
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4')
    const families = parsePrometheusTextFormat(await res.text()) as { name: string }[]
    const names = families.map((f) => f.name)
    expect(names).toContain('portico_requests_total')
    expect(names).toContain('portico_request_duration_seconds')
  })
})
