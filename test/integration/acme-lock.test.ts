// Issue 16: two Portico processes on one state dir never order the same certificate twice.
// Two AcmeManagers share a state dir (one pid, as two processes would share the lock folder)
// against a real Pebble; a plain HTTP server on Pebble's validation port answers HTTP-01 from
// both managers' challenges. Exactly one order is placed; the other manager waits for the
// lock and then loads the certificate the first one stored.
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AcmeManager } from '../../src/acme/manager.ts'
import { acmeSettings } from '../../src/config/settings.ts'
import { EventBus } from '../../src/observe/events.ts'
import { createLogger } from '../../src/observe/log.ts'
import { ACME_CHALLENGE_PREFIX } from '../../src/proxy/acme-responder.ts'
import { CertStore } from '../../src/proxy/tls/cert-store.ts'
import { type Pebble, pebbleSurvivors, startPebble } from '../helpers/pebble.ts'
import { closedPort } from '../helpers/ports.ts'
import { waitFor } from '../helpers/wait.ts'

const NAME = 'lock1.example.com'

describe('ACME lock between two managers on one state dir', () => {
  let dir: string
  let pebble: Pebble
  let server: http.Server
  const managers: AcmeManager[] = []

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'portico-acme-lock-'))
    const httpPort = await closedPort()
    pebble = await startPebble({ dir, httpPort, tlsPort: await closedPort() })
    server = http.createServer(async (req, res) => {
      const token = (req.url ?? '').slice(ACME_CHALLENGE_PREFIX.length)
      for (const manager of managers) {
        const answer = await manager.challenges.keyAuthorization(token)
        if (answer !== undefined) return res.end(answer)
      }
      res.writeHead(404).end()
    })
    server.listen(httpPort, '127.0.0.1')
    await once(server, 'listening')
  })

  afterAll(async () => {
    for (const manager of managers) manager.close()
    server?.close()
    await pebble?.stop()
    if (pebble) expect(pebbleSurvivors(pebble)).toEqual([])
    await rm(dir, { recursive: true, force: true })
  })

  it('places one order; the second manager loads the stored certificate instead', async () => {
    const settings = acmeSettings(
      {
        email: 'ops@example.com',
        directory: pebble.directory,
        caBundle: pebble.caBundle,
        staging: false,
        challenges: { http01: true, tlsAlpn01: false },
        renewalWindowRatio: 1 / 3,
      },
      dir,
    )
    const log = createLogger({ level: 'silent' })
    const issued: string[] = []
    const stores: CertStore[] = []
    for (const id of ['a', 'b']) {
      const events = new EventBus()
      events.on('cert:issued', (e) => issued.push(`${id}:${e.domain}`))
      const certs = new CertStore({ certsDir: path.join(dir, 'no-certs'), log })
      stores.push(certs)
      const manager = await AcmeManager.create({
        settings: settings as NonNullable<typeof settings>,
        stateDir: path.join(dir, 'state'),
        certs,
        events,
        log,
        lockRetryMs: 300,
      })
      managers.push(manager)
      await manager.manage([NAME])
    }
    for (const manager of managers) manager.start()
    const serials = await waitFor(
      async () => {
        const found = stores.map((s) => s.list().find((c) => c.domain === NAME)?.serialNumber)
        return found.every((s) => s !== undefined) ? found : undefined
      },
      { timeoutMs: 30_000 },
    )
    expect(serials[0]).toBe(serials[1])
    expect(issued).toHaveLength(1)
    expect(managers.map((m) => m.list()[0]?.state)).toEqual(['valid', 'valid'])
  })
})
