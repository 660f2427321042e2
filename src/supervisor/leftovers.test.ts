import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type InstanceRecord,
  instanceProcesses,
  killLeftovers,
  readInstanceRecords,
  writeInstanceRecords,
} from './leftovers.ts'
import { groupMembers, isAlive, killGroup, readProcStat, waitUntilGone } from './processes.ts'

const log = pino({ level: 'silent' })
/** Every pid and process group these tests started: afterAll kills what is left. */
const started = new Set<number>()
const groups = new Set<number>()
let dir: string

/** Spawns `sh -c script` as its own process group with the given instance markers. */
function spawnGroup(script: string, app: string, index: number): ChildProcess {
  const child = spawn('/bin/sh', ['-c', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORTICO_APP: app,
      PORTICO_INSTANCE: String(index),
    },
  })
  child.unref()
  if (child.pid === undefined) throw new Error('spawn failed')
  started.add(child.pid)
  groups.add(child.pid)
  return child
}

function recordOf(pid: number, app: string, index: number): InstanceRecord {
  return { id: `${app}#${index}`, app, index, pid, startTime: readProcStat(pid)?.startTime ?? null }
}

/** Reads the first line the child prints (a pid it reports). */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes('\n')) resolve(text.split('\n')[0] ?? '')
    })
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portico-leftovers-'))
})

afterAll(async () => {
  // Each spawned shell leads its own group: kill the groups, then check every member is gone.
  const members = [...groups].flatMap((pgid) => groupMembers(pgid))
  for (const pgid of groups) killGroup(pgid, 'SIGKILL')
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone: what the tests expect.
    }
  }
  expect(await waitUntilGone([...started, ...members], { timeoutMs: 5000 })).toEqual([])
  await rm(dir, { recursive: true, force: true })
})

describe('instance records', () => {
  it('round-trips through the file and reads a missing file as empty', async () => {
    const file = join(dir, 'round-trip.json')
    expect(await readInstanceRecords(file)).toEqual([])
    const records = [{ id: 'web#0', app: 'web', index: 0, pid: 4242, startTime: 17 }]
    await writeInstanceRecords(file, records)
    expect(await readInstanceRecords(file)).toEqual(records)
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 1 })
  })

  it('reads a damaged file as empty and skips entries that are not records', async () => {
    const file = join(dir, 'damaged.json')
    await writeFile(file, '{"version":1,"instances":[{"app":"web"')
    expect(await readInstanceRecords(file)).toEqual([])
    const good = { id: 'web#0', app: 'web', index: 0, pid: 4242, startTime: null }
    await writeFile(file, JSON.stringify({ version: 1, instances: [good, { pid: 1 }, 'x'] }))
    expect(await readInstanceRecords(file)).toEqual([good])
  })
})

describe('killLeftovers', () => {
  it('kills a recorded instance and its children, and spares what is not provably ours', async () => {
    const leftover = spawnGroup('sleep 300 & sleep 300 & wait', 'ghost', 0)
    const stranger = spawnGroup('sleep 300', 'other', 0)
    const leftoverPid = leftover.pid as number
    const strangerPid = stranger.pid as number
    const group = await waitForGroup(leftoverPid, 3)
    // The group is found by the code under test: pin it, or an empty answer would pass.
    expect(group).toHaveLength(3)
    expect(group).toContain(leftoverPid)
    const file = join(dir, 'instances.json')
    await writeInstanceRecords(file, [
      recordOf(leftoverPid, 'ghost', 0),
      // Our own pid with another start time: a reused pid must never be killed.
      { id: 'ghost#1', app: 'ghost', index: 1, pid: process.pid, startTime: 1 },
      // A live group whose environment names another instance.
      { ...recordOf(strangerPid, 'ghost', 2), id: 'ghost#2' },
    ])

    const killed = await killLeftovers(file, log)

    expect(new Set(killed)).toEqual(new Set(group))
    expect(group.filter(isAlive)).toEqual([])
    expect(isAlive(leftoverPid)).toBe(false)
    expect(isAlive(strangerPid)).toBe(true)
    expect(await readInstanceRecords(file)).toEqual([])
  })

  it('kills the orphans of a recorded instance whose own process is gone', async () => {
    const shell = spawnGroup('sleep 300 & echo $!', 'ghost', 3)
    const orphan = Number(await firstLine(shell))
    started.add(orphan)
    const shellPid = shell.pid as number
    expect(await waitUntilGone([shellPid], { timeoutMs: 5000 })).toEqual([])
    expect(instanceProcesses({ pid: shellPid, app: 'ghost', index: 3, startTime: 1 })).toEqual([
      orphan,
    ])
    const file = join(dir, 'orphans.json')
    await writeInstanceRecords(file, [
      { id: 'ghost#3', app: 'ghost', index: 3, pid: shellPid, startTime: 1 },
    ])

    expect(await killLeftovers(file, log)).toEqual([orphan])
    expect(isAlive(orphan)).toBe(false)
  })
})

/** Polls until the group led by `pgid` has `count` members (the shell forks asynchronously). */
async function waitForGroup(pgid: number, count: number): Promise<number[]> {
  const deadline = Date.now() + 5000
  for (;;) {
    const members = instanceProcesses({ pid: pgid, app: 'ghost', index: 0, startTime: null })
    if (members.length >= count || Date.now() > deadline) return members
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
