// The test server in its own process (`baileys-native test-server --stdin-control`) and small
// client handles for our socket and the real Baileys behind one interface. Used where the
// memory of a process must be its sockets' alone: the benchmarks (`benchmark/`) and the soak
// test, whose clients run in a child process while the server runs in another.
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

/**
 * Starts the CLI test server (seeded) and returns the controls the callers need. A profiler's
 * preload (heaptrack), the client's runtime size (TOKIO_WORKER_THREADS) and the client's addon
 * (NAPI_RS_NATIVE_LIBRARY_PATH, which the testing package's loader would take for its own) are
 * not passed on: only the client process is measured, and the server stays as it is.
 */
export async function remoteServer(seed) {
  const env = { ...process.env }
  delete env.LD_PRELOAD
  delete env.DUMP_HEAPTRACK_OUTPUT
  delete env.TOKIO_WORKER_THREADS
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  const bin = fileURLToPath(new URL('../bin/baileys-native.js', import.meta.url))
  const p = spawn(process.execPath, [bin, 'test-server', '--json', '--stdin-control', '--seed', seed], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env,
  })
  const lines = createInterface({ input: p.stdout })
  const pending = new Map()
  let nextId = 1
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve)
    p.once('exit', (code) => reject(new Error(`test server exited (${code}) before it started`)))
  })
  const info = JSON.parse(first)
  lines.on('line', (l) => {
    const m = JSON.parse(l)
    const w = pending.get(m.id)
    pending.delete(m.id)
    if (m.ok) w?.resolve(m.result)
    else w?.reject(new Error(`${m.error.code}: ${m.error.message}`))
  })
  const call = (cmd, args) =>
    new Promise((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve, reject })
      p.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`)
    })
  return {
    url: info.url,
    rootPublicKey: Buffer.from(info.rootPublicKey, 'base64'),
    media: {
      host: info.mediaHost,
      caPem: info.mediaCaPem,
      expire: (directPath) => call('mediaExpire', { directPath }),
      corrupt: (directPath, offset) => call('mediaCorrupt', { directPath, offset }),
      file: async (directPath) => Buffer.from(await call('mediaFile', { directPath }), 'base64'),
      count: () => call('mediaCount', {}),
    },
    pid: p.pid,
    scanQR: (qr, { phoneNumber, pushName }) => call('scanQR', { qr, phoneNumber, pushName }),
    /** Every frame to `jid`'s connections `delayMs` late (0 ends it); how many it delays. */
    delayFrames: (jid, delayMs) => call('delayFrames', { jid, delayMs }),
    stats: () => call('stats', {}),
    seedAccounts: ({ prefix, count, devices }) => call('seedAccounts', { prefix, count, devices }),
    phone(phoneNumber) {
      return {
        jid: `${phoneNumber}@s.whatsapp.net`,
        sendText: (to, text) => call('sendText', { phoneNumber, to, text }),
        inbox: () => call('inbox', { phoneNumber }),
        receipts: () => call('receipts', { phoneNumber }),
        // Waited for in the server's process: one round trip for the measured client process.
        waitForInbox: (n, { timeoutMs }) => call('waitForInbox', { phoneNumber, count: n, timeoutMs }),
        // `count` texts "PREFIX i", driven by the server's process (a pipe round trip per text
        // would be counted as the client's CPU), at most `inFlight` in flight: sent and not yet
        // confirmed by a delivery receipt from `receiptFrom` (a device JID) when given. Their ids.
        sendTexts: (to, { prefix = '', count, inFlight = 1, receiptFrom = null, timeoutMs = 300_000 }) =>
          call('sendTexts', { phoneNumber, to, prefix, count, inFlight, receiptFrom, timeoutMs }),
      }
    },
    stop: () => p.kill('SIGTERM'),
  }
}

/** Forced GC (needs --expose-gc), then the process' RSS and JS heap in MiB. */
export async function settle({ reducer = false } = {}) {
  // Idle means idle: the binding hands memory freed by a burst of work (pairings, ended
  // sockets) back to the OS a second after the burst (src/trim.rs).
  await new Promise((r) => setTimeout(r, 1500))
  for (let i = 0; i < 3; i++) {
    global.gc?.()
    await new Promise((r) => setTimeout(r, 300))
  }
  // A forced GC frees the JS heap's objects but keeps its pages; V8's memory reducer gives
  // them back some seconds into an idle period (after a burst of pairings, heapTotal went
  // from 27 to 11.5 MB about 8 s later, for Baileys' process and ours alike). A reading of
  // what idle sockets hold waits for it.
  if (reducer) {
    await new Promise((r) => setTimeout(r, 10_000))
    global.gc?.()
    await new Promise((r) => setTimeout(r, 300))
  }
  const m = process.memoryUsage()
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 }
}

/**
 * Keeps the test server and this process on different cores (the server on core 0, this
 * process' threads on the others), as a real server sits on another machine. Left to the
 * scheduler on a 2-core machine, the two processes of a one-message-at-a-time exchange were
 * moved between the cores and on and off each other's core, and this process' CPU per text
 * moved with where they fell: ours read 88-99 ms per 1,000 received texts in one process,
 * 61-73 pinned apart and 41 pinned together (Baileys 612-770, 606-711). Returns what was
 * done, for the report; nothing on one core, or where `taskset` is missing.
 * `BENCH_PIN=0` leaves the placement to the scheduler.
 */
export function pinApart(server) {
  const n = availableParallelism()
  if (process.env.BENCH_PIN === '0') return 'not pinned (BENCH_PIN=0)'
  if (n < 2) return 'not pinned (one core)'
  const rest = n === 2 ? '1' : `1-${n - 1}`
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(server.pid)], { stdio: 'ignore' })
    execFileSync('taskset', ['-a', '-p', '-c', rest, String(process.pid)], { stdio: 'ignore' })
  } catch (e) {
    return `not pinned (taskset: ${e.code ?? e.status ?? e.message})`
  }
  return `test server pinned to core 0, client to core${n === 2 ? '' : 's'} ${rest}`
}

/**
 * Voluntary context switches (sleeps) and CPU time (ns, from schedstat) of this process so far,
 * by thread name (threads of one name summed): what the benchmarks read per text.
 */
export function threadSwitches() {
  const by = new Map()
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/status`, 'utf8')
      const name = /^Name:\s*(.*)$/m.exec(st)?.[1] ?? '?'
      const n = Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(st)?.[1] ?? 0)
      const ns = Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0])
      const was = by.get(name) ?? { n: 0, ns: 0 }
      by.set(name, { n: was.n + n, ns: was.ns + ns })
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return by
}

/** Calls `fn(i)` for i in 0..n keeping at most `window` calls unresolved at a time. */
export async function inFlight(n, window, fn) {
  const pending = new Set()
  for (let i = 0; i < n; i++) {
    const p = Promise.resolve(fn(i)).finally(() => pending.delete(p))
    pending.add(p)
    if (pending.size >= window) await Promise.race(pending)
  }
  await Promise.all(pending)
}

function connectionUpdate(sock, pred, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sock.ev.off('connection.update', on)
      reject(new Error('connection.update timed out'))
    }, timeoutMs)
    const on = (u) => {
      if (pred(u)) {
        clearTimeout(t)
        sock.ev.off('connection.update', on)
        resolve(u)
      }
    }
    sock.ev.on('connection.update', on)
  })
}

/**
 * A client of one implementation ('ours' or 'baileys') behind one interface: `pairByQR`,
 * `connect` (log in again with the kept auth state), `end`, `waitAll(ids)` (resolves once
 * every id was upserted) and `received` (how many upserts so far). With `authDir`, each
 * client keeps its auth state in `useMultiFileAuthState(authDir/name)` (the implementation's
 * own), as most bots do; otherwise in memory.
 */
export async function clientFactory(impl, server, { authDir } = {}) {
  if (impl === 'baileys') {
    const { BaileysClient } = await import('./testserver-util.mjs')
    const { useMultiFileAuthState } = await import('@whiskeysockets/baileys')
    return (name) => {
      const c = new BaileysClient(server, name)
      const seen = new Set()
      const waiters = []
      let saveCreds
      const ready = authDir
        ? useMultiFileAuthState(join(authDir, name)).then((a) => {
            c.auth = a.state
            saveCreds = a.saveCreds
          })
        : Promise.resolve()
      const baseConnect = c.connect.bind(c)
      c.connect = () => {
        const sock = baseConnect()
        if (saveCreds) sock.ev.on('creds.update', saveCreds)
        sock.ev.on('messages.upsert', ({ messages }) => upserted(seen, waiters, messages))
        return sock
      }
      c.pairByQR = async (phoneNumber, pushName) => {
        await ready
        c.number = phoneNumber
        c.connect()
        const { qr } = await c.waitUpdate((u) => !!u.qr, 30_000)
        const closed = c.waitClose(30_000)
        await server.scanQR(qr, { phoneNumber, pushName })
        await closed
        c.connect()
        await c.waitOpen(30_000)
      }
      c.login = async () => {
        await ready
        c.connect()
        await c.waitOpen(30_000)
      }
      c.waitAll = (ids) => waitAll(seen, waiters, ids)
      Object.defineProperty(c, 'received', { get: () => seen.size })
      c.upserts = { push() {} } // the recorder's list is not needed: keep it from growing
      return c
    }
  }
  const { default: makeWASocket, initAuthCreds, KeyStore, MemoryEngine, useMultiFileAuthState } = await import('../index.mjs')
  // Silent, as the Baileys clients' logger is: logging is not what is measured. Defined here
  // rather than imported from testserver-util.mjs, which loads Baileys (about 30 MB of RSS
  // and 18 MB of JS heap that would be counted as ours).
  const logger = silentLogger()
  return (name) => {
    const seen = new Set()
    const waiters = []
    let saveCreds
    const ready = authDir
      ? useMultiFileAuthState(join(authDir, name)).then((a) => {
          client.auth = a.state
          saveCreds = a.saveCreds
        })
      : Promise.resolve()
    const client = {
      name,
      auth: authDir ? null : { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) },
      sock: null,
      connect() {
        const sock = makeWASocket({
          auth: client.auth,
          waWebSocketUrl: server.url,
          waCertPublicKey: server.rootPublicKey,
          logger,
          connectTimeoutMs: 30_000,
          defaultQueryTimeoutMs: 30_000,
        })
        sock.ev.on('messages.upsert', ({ messages }) => upserted(seen, waiters, messages))
        if (saveCreds) sock.ev.on('creds.update', saveCreds)
        client.sock = sock
        return sock
      },
      async pairByQR(phoneNumber) {
        await ready
        client.number = phoneNumber
        const sock = client.connect()
        const { qr } = await connectionUpdate(sock, (u) => !!u.qr)
        const closed = connectionUpdate(sock, (u) => u.connection === 'close')
        await server.scanQR(qr, { phoneNumber })
        await closed
        await client.login()
      },
      async login() {
        await ready
        const sock = client.connect()
        await connectionUpdate(sock, (u) => u.connection === 'open')
      },
      async end() {
        const sock = client.sock
        if (!sock) return
        const closed = connectionUpdate(sock, (u) => u.connection === 'close', 5_000).catch(() => {})
        sock.end(undefined)
        await closed
        client.sock = null
      },
      waitAll: (ids) => waitAll(seen, waiters, ids),
      has: (id) => seen.has(id),
      get received() {
        return seen.size
      },
    }
    return client
  }
}

// A waiter keeps the ids it still misses, so each upsert costs it one delete (a harness that
// rescanned every id per upsert would dominate the CPU it measures).
function waitAll(seen, waiters, ids) {
  return new Promise((resolve) => {
    const missing = new Set(ids)
    for (const id of ids) if (seen.has(id)) missing.delete(id)
    if (missing.size === 0) return resolve()
    waiters.push((id) => {
      missing.delete(id)
      if (missing.size > 0) return false
      resolve()
      return true
    })
  })
}

// Only what others sent is waited for: our own texts (each socket emits them as upserts too)
// are not kept, so the harness' Set does not cost the send rows a second add per text.
function upserted(seen, waiters, messages) {
  for (const m of messages) {
    if (m.key.fromMe) continue
    seen.add(m.key.id)
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i](m.key.id)) waiters.splice(i, 1)
  }
}

function silentLogger() {
  const noop = () => {}
  const logger = { level: 'silent', trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop }
  logger.child = () => logger
  return logger
}
