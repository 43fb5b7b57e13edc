// Sending to a big group: our socket next to the real Baileys 7.0.0-rc14, each in its own
// process against its own test server (a third process). The server seeds the members
// (BENCH_GROUP_MEMBERS accounts with BENCH_GROUP_DEVICES devices each, real Signal keys, no
// connection: what they are sent is dropped after routing). The socket creates the group,
// then: `groupMetadata` of it; the first send (a session and a sender-key distribution for
// every device) and the next BENCH_GROUP_SENDS sends, each awaited until the server's ack:
// wall time and this process's CPU; and the RSS of holding BENCH_GROUP_CACHED groups'
// metadata (ours: the socket's own cache; Baileys: a Map, as a bot's cachedGroupMetadata
// keeps them). A measurement, never a test.
//
//   npm run bench groups      defaults: 1000 members x 3 devices, 100 sends, 50 groups cached
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { remoteServer, settle } from '../__test__/remote-server.mjs'

const MEMBERS = Number(process.env.BENCH_GROUP_MEMBERS || 1000)
const DEVICES = Number(process.env.BENCH_GROUP_DEVICES || 3)
const SENDS = Number(process.env.BENCH_GROUP_SENDS || 100)
const CACHED = Number(process.env.BENCH_GROUP_CACHED || 50)
const self = fileURLToPath(import.meta.url)

if (process.argv.includes('--child')) {
  const role = process.argv[process.argv.indexOf('--child') + 1]
  const result = await child(role)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
} else {
  parent()
}

function parent() {
  console.log(`\n### a group of ${MEMBERS} members x ${DEVICES} devices (${MEMBERS * DEVICES} devices); ${SENDS} sends after the first; ${CACHED} groups cached`)
  const results = {}
  for (const r of ['baileys', 'ours']) {
    const p = spawnSync(process.execPath, ['--expose-gc', self, '--child', r], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
      timeout: 900_000,
      killSignal: 'SIGKILL',
    })
    const line = p.stdout.trim().split('\n').pop()
    if (p.status !== 0 || !line) {
      console.error(`${r}: child failed (status ${p.status}${p.signal ? `, killed: ${p.signal}` : ''})`)
      process.exit(1)
    }
    results[r] = JSON.parse(line)
  }
  const b = results.baileys
  const o = results.ours
  const row = (name, bv, ov, unit) => {
    console.log(`${name.padEnd(44)}${fmt(bv).padStart(10)}${fmt(ov).padStart(10)}  ${unit.padEnd(6)}${(bv / ov).toFixed(2)}x`)
  }
  console.log(`${'measure'.padEnd(44)}${'Baileys'.padStart(10)}${'ours'.padStart(10)}  ${'unit'.padEnd(6)}Baileys / ours`)
  row('groupMetadata (median of 5)', b.metaMs, o.metaMs, 'ms')
  row('first send: wall', b.firstMs, o.firstMs, 'ms')
  row('first send: client CPU', b.firstCpu, o.firstCpu, 'ms')
  row(`next ${SENDS} sends: wall`, b.nextMs, o.nextMs, 'ms')
  row(`next ${SENDS} sends: client CPU`, b.nextCpu, o.nextCpu, 'ms')
  row(`RSS for ${CACHED} groups' metadata`, b.cacheRss, o.cacheRss, 'MB')
}

function fmt(v) {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function child(impl) {
  const util = await import('../__test__/testserver-util.mjs')
  const { clientFactory } = await import('../__test__/remote-server.mjs')
  const server = await remoteServer(`groups bench ${impl}`)
  const restore = util.trustServer(server)
  const members = await server.seedAccounts({ prefix: '1777', count: MEMBERS, devices: DEVICES })
  const client = (await clientFactory(impl, server))('bench')
  await client.pairByQR('15558880000', 'Bench')
  const sock = client.sock
  const cpuMs = (since) => {
    const d = process.cpuUsage(since)
    return (d.user + d.system) / 1000
  }

  const group = await sock.groupCreate('bench', members)
  const metaMs = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    await sock.groupMetadata(group.id)
    metaMs.push(performance.now() - t)
  }

  let cpu = process.cpuUsage()
  let t = performance.now()
  await sock.sendMessage(group.id, { text: 'first' })
  const firstMs = performance.now() - t
  const firstCpu = cpuMs(cpu)

  cpu = process.cpuUsage()
  t = performance.now()
  for (let i = 0; i < SENDS; i++) await sock.sendMessage(group.id, { text: `next ${i}` })
  const nextMs = performance.now() - t
  const nextCpu = cpuMs(cpu)

  // Metadata of CACHED groups held: ours in the socket's cache, Baileys' in the app's Map.
  // (Created groups count on both sides: our socket caches what groupCreate answers.)
  // With V8's memory reducer on both sides: without it the reading is mostly JS heap pages of
  // the big answers not yet handed back (ours read 11-12 MB then, 1.7 MB after it).
  const before = await settle({ reducer: true })
  const ids = [group.id]
  for (let i = 1; i < CACHED; i++) ids.push((await sock.groupCreate(`bench ${i}`, members)).id)
  const held = new Map()
  for (const id of ids) {
    const m = await sock.groupMetadata(id)
    if (impl === 'baileys') held.set(id, m)
  }
  const after = await settle({ reducer: true })
  restore()
  server.stop()
  return {
    metaMs: median(metaMs),
    firstMs,
    firstCpu,
    nextMs,
    nextCpu,
    cacheRss: Math.max(after.rss - before.rss, 0.01),
    held: held.size,
  }
}
