// What the socket's store costs per message (issue 14): texts from a simulated phone to one
// logged-in socket, 10 in flight, with `makeWASocket({ store })` on each engine and without a
// store; Baileys 7 (which keeps nothing) on the same run for reference. Each row is its own
// child process against the test server in another (the CLI); PostgreSQL and S3 (moto) are
// real servers on 127.0.0.1. Prints received texts/s and client CPU per 1,000 texts, and the
// ratio to ours without a store. A measurement, never a test.
//
//   npm run bench socket-store        BENCH_TEXTS=1000 by default
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { remoteServer } from '../__test__/remote-server.mjs'

const M = Number(process.env.BENCH_TEXTS || 1000)
const IN_FLIGHT = 10
const self = fileURLToPath(import.meta.url)
const ROWS = ['baileys', 'none', 'memory', 'file', 'sqlite', 'js-map', 'pg', 's3']

if (process.argv.includes('--child')) {
  const row = process.argv[process.argv.indexOf('--child') + 1]
  const result = await child(row)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
} else {
  await parent()
}

async function parent() {
  const { startServers, createBucket } = await import('../__test__/store-servers.mjs')
  const servers = startServers('all')
  await createBucket(servers.WA_TEST_S3_ENDPOINT, 'bench')
  console.log(`\n### ${M} texts phone -> one socket, ${IN_FLIGHT} in flight, each row in its own process`)
  console.log(`${'store'.padEnd(26)}${'texts/s'.padStart(10)}${'CPU ms/1k'.padStart(12)}${'engine writes'.padStart(15)}  vs ours without a store (CPU)`)
  let base = null
  for (const row of ROWS) {
    const dir = mkdtempSync(join(tmpdir(), 'bn-bench-store-'))
    const p = spawnSync(process.execPath, ['--expose-gc', self, '--child', row], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...servers, BENCH_DIR: dir },
      timeout: 600_000,
      killSignal: 'SIGKILL',
    })
    rmSync(dir, { recursive: true, force: true })
    const line = p.stdout.trim().split('\n').pop()
    if (p.status !== 0 || !line) {
      console.error(`${row}: child failed (status ${p.status}${p.signal ? `, ${p.signal}` : ''})`)
      process.exit(1)
    }
    const r = JSON.parse(line)
    if (row === 'none') base = r
    const name = row === 'baileys' ? 'Baileys 7 (keeps nothing)' : row === 'none' ? 'ours, no store' : `ours, store on ${row}`
    const vs = base && row !== 'none' && row !== 'baileys' ? `${(r.cpu / base.cpu).toFixed(2)}x CPU, ${(r.perSec / base.perSec).toFixed(2)}x rate` : ''
    console.log(`${name.padEnd(26)}${r.perSec.toFixed(0).padStart(10)}${r.cpu.toFixed(0).padStart(12)}${String(r.writes ?? '-').padStart(15)}  ${vs}`)
  }
}

function engineOf(O, row) {
  const dir = process.env.BENCH_DIR
  switch (row) {
    case 'memory':
      return new O.MemoryEngine()
    case 'file':
      return new O.FileEngine(join(dir, 'files'))
    case 'sqlite':
      return new O.SqliteEngine(join(dir, 'store.db'))
    case 'pg':
      return new O.PostgresEngine(process.env.WA_TEST_PG_URL, { prefix: `bench-${process.pid}` })
    case 's3':
      return new O.S3Engine({
        bucket: 'bench',
        prefix: `bench-${process.pid}`,
        endpoint: process.env.WA_TEST_S3_ENDPOINT,
        forcePathStyle: true,
        credentials: { region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' },
      })
    case 'js-map': {
      // A user's engine to the seed's contract, in memory.
      const data = new Map()
      return {
        get: async (p) => data.get(p) ?? null,
        set: async (p, v) => (v === null ? data.delete(p) : data.set(p, v), true),
        list: async (prefix, offset = 0, limit = 50) =>
          [...data.keys()].filter((k) => k.startsWith(prefix + '/') && !k.slice(prefix.length + 1).includes('/')).sort().slice(offset, offset + limit),
      }
    }
    default:
      return null
  }
}

async function child(row) {
  const util = await import('../__test__/testserver-util.mjs')
  const server = await remoteServer(`socket store bench ${row}`)
  const restore = util.trustServer(server)
  const number = '15559100001'
  const me = `${number}@s.whatsapp.net`
  const seen = new Set()
  let writes = null
  if (row === 'baileys') {
    const b = new util.BaileysClient(server, 'bench')
    await b.pairByQR(number, 'Bench')
    b.sock.ev.on('messages.upsert', ({ messages }) => messages.forEach((m) => seen.add(m.key.id)))
  } else {
    const O = await import('../index.mjs')
    const engine = engineOf(O, row)
    let store
    if (engine) {
      store = new O.Store(engine)
      // Engine writes: the Store's merged writes, counted at its one entry point.
      const write = store.write.bind(store)
      writes = 0
      store.write = (...a) => (writes++, write(...a))
    }
    await util.pairOurSocket(server, number, {
      config: store ? { store } : {},
      onSocket: (sock) => sock.ev.on('messages.upsert', ({ messages }) => messages.forEach((m) => seen.add(m.key.id))),
    })
    if (store) writes = 0
  }
  const phone = server.phone('15559199999')
  // Warm up the session (first message: a prekey message and a session setup).
  const warm = await phone.sendText(me, 'warm')
  while (!seen.has(warm)) await new Promise((r) => setTimeout(r, 5))
  global.gc?.()

  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const ids = []
  let next = 0
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < M) {
        const i = next++
        ids.push(await phone.sendText(me, `text ${i}`))
      }
    }),
  )
  while (!ids.every((id) => seen.has(id))) await new Promise((r) => setTimeout(r, 2))
  const secs = (performance.now() - t0) / 1000
  const d = process.cpuUsage(cpu0)
  restore()
  server.stop()
  return { perSec: M / secs, cpu: (d.user + d.system) / 1000 / (M / 1000), writes }
}
