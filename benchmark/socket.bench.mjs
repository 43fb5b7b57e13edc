// Our makeWASocket next to the real Baileys 7.0.0-rc14, both against the embedded test server:
// memory per logged-in socket, pair-to-open time, and texts per second both ways with a
// simulated phone. Each implementation runs in its own child process (its own heap), and the
// server in a third (the CLI, driven over stdin), so a child's RSS is its sockets' alone; the
// parent prints the table and the ratios (> 1: ours better). A measurement, never a test.
//
//   npm run bench socket            BENCH_SOCKETS=20 BENCH_TEXTS=200 by default
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { remoteServer } from '../__test__/remote-server.mjs'

const N = Number(process.env.BENCH_SOCKETS || 20)
const M = Number(process.env.BENCH_TEXTS || 200)
const self = fileURLToPath(import.meta.url)
const role = process.argv[process.argv.indexOf('--child') + 1]

if (process.argv.includes('--child')) {
  const result = await child(role)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  // Baileys leaves 30 s timers behind after prekey uploads; the numbers are out, so leave.
  process.exit(0)
} else {
  parent()
}

function parent() {
  console.log(`\n### ${N} logged-in sockets per implementation, ${M} texts each way (each in its own process)`)
  const results = {}
  for (const r of ['baileys', 'ours']) {
    const p = spawnSync(process.execPath, ['--expose-gc', self, '--child', r], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
      // A stuck socket must end the bench with a message, not hang it.
      timeout: 300_000,
      killSignal: 'SIGKILL',
    })
    const line = p.stdout.trim().split('\n').pop()
    if (p.status !== 0 || !line) {
      console.error(`${r}: child failed (status ${p.status}${p.signal ? `, killed after 300 s: ${p.signal}` : ''})`)
      process.exit(1)
    }
    results[r] = JSON.parse(line)
  }
  const b = results.baileys
  const o = results.ours
  const row = (name, bv, ov, unit, better) => {
    const ratio = better === 'lower' ? bv / ov : ov / bv
    console.log(`${name.padEnd(40)}${fmt(bv).padStart(10)}${fmt(ov).padStart(10)}  ${unit.padEnd(9)}${ratio.toFixed(2)}x`)
  }
  console.log(`${'measure'.padEnd(40)}${'Baileys'.padStart(10)}${'ours'.padStart(10)}  ${'unit'.padEnd(9)}ours vs Baileys`)
  row('RSS per logged-in socket', b.rssPerSocket, o.rssPerSocket, 'MB', 'lower')
  row('JS heap per logged-in socket', b.heapPerSocket * 1024, Math.max(o.heapPerSocket * 1024, 0.01), 'KB', 'lower')
  row('QR shown -> paired -> open (median)', b.pairMs, o.pairMs, 'ms', 'lower')
  row('phone -> socket, decrypted in upsert', b.inPerSec, o.inPerSec, 'texts/s', 'higher')
  row('socket -> phone, sendMessage awaited', b.outPerSec, o.outPerSec, 'texts/s', 'higher')
  row('client CPU per 1,000 received', b.inCpu, o.inCpu, 'ms', 'lower')
  row('client CPU per 1,000 sent', b.outCpu, o.outCpu, 'ms', 'lower')
}

function fmt(v) {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc?.()
    await new Promise((r) => setTimeout(r, 300))
  }
  const m = process.memoryUsage()
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 }
}

async function child(impl) {
  const util = await import('../__test__/testserver-util.mjs')
  const server = await remoteServer(`socket bench ${impl}`)
  const restore = util.trustServer(server)
  const make = impl === 'ours' ? await ourClientFactory(server) : (name) => withWaitAll(new util.BaileysClient(server, name))

  // Warm up one socket so that module loading and first-use costs are not counted per socket.
  const warm = make('warm')
  await pair(warm, '15559000000')
  const before = await settle()
  const clients = []
  const pairMs = []
  for (let i = 0; i < N; i++) {
    const c = make(`c${i}`)
    const t0 = performance.now()
    await pair(c, `1555900${String(i + 1).padStart(4, '0')}`)
    pairMs.push(performance.now() - t0)
    clients.push(c)
  }
  const after = await settle()

  // Throughput with one socket and a simulated phone.
  const c = clients[0]
  const me = `${c.number}@s.whatsapp.net`
  const phone = server.phone('15559099999')
  // CPU of this process only (the server runs in another): ms per 1,000 texts.
  const cpuMs = (since) => {
    const d = process.cpuUsage(since)
    return (d.user + d.system) / 1000 / (M / 1000)
  }
  let t0 = performance.now()
  let cpu0 = process.cpuUsage()
  const ids = new Set()
  for (let i = 0; i < M; i++) ids.add(await phone.sendText(me, `in ${i}`))
  await c.waitAll(ids)
  const inPerSec = M / ((performance.now() - t0) / 1000)
  const inCpu = cpuMs(cpu0)
  t0 = performance.now()
  cpu0 = process.cpuUsage()
  for (let i = 0; i < M; i++) await c.sock.sendMessage(phone.jid, { text: `out ${i}` })
  await phone.waitForInbox(M, { timeoutMs: 120_000 })
  const outPerSec = M / ((performance.now() - t0) / 1000)
  const outCpu = cpuMs(cpu0)

  restore()
  server.stop()
  return {
    rssPerSocket: (after.rss - before.rss) / N,
    heapPerSocket: (after.heap - before.heap) / N,
    pairMs: median(pairMs),
    inPerSec,
    outPerSec,
    inCpu,
    outCpu,
  }

  async function pair(client, number) {
    client.number = number
    await client.pairByQR(number, 'Bench')
  }
}

// Resolves once every id has been upserted (polled: BaileysClient records every upsert).
function withWaitAll(client) {
  client.waitAll = (ids) =>
    new Promise((resolve) => {
      const tick = setInterval(() => {
        const seen = new Set(client.upserts.map((m) => m.key.id))
        for (const id of ids) if (!seen.has(id)) return
        clearInterval(tick)
        resolve()
      }, 5)
    })
  return client
}

// Our socket behind the same small interface as the tests' BaileysClient.
async function ourClientFactory(server) {
  const { default: makeWASocket, initAuthCreds, KeyStore, MemoryEngine } = await import('../index.mjs')
  return (name) => {
    const client = {
      name,
      upserts: new Set(),
      waiters: [],
      auth: { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) },
      sock: null,
      connect() {
        const sock = makeWASocket({
          auth: client.auth,
          waWebSocketUrl: server.url,
          waCertPublicKey: server.rootPublicKey,
          connectTimeoutMs: 20_000,
          defaultQueryTimeoutMs: 20_000,
        })
        sock.ev.on('messages.upsert', ({ messages }) => {
          for (const m of messages) client.upserts.add(m.key.id)
          client.waiters = client.waiters.filter((w) => !w())
        })
        client.sock = sock
        return sock
      },
      update(pred) {
        const sock = client.sock
        return new Promise((resolve) => {
          const on = (u) => {
            if (pred(u)) {
              sock.ev.off('connection.update', on)
              resolve(u)
            }
          }
          sock.ev.on('connection.update', on)
        })
      },
      async pairByQR(phoneNumber, pushName) {
        client.connect()
        const { qr } = await client.update((u) => !!u.qr)
        const closed = client.update((u) => u.connection === 'close')
        await server.scanQR(qr, { phoneNumber, pushName })
        await closed
        client.connect()
        await client.update((u) => u.connection === 'open')
      },
      waitAll(ids) {
        return new Promise((resolve) => {
          const done = () => {
            for (const id of ids) if (!client.upserts.has(id)) return false
            resolve()
            return true
          }
          if (!done()) client.waiters.push(done)
        })
      },
    }
    return client
  }
}
