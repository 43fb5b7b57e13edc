// How much a socket costs: our makeWASocket next to the real Baileys 7.0.0-rc14, each in its
// own child process (its own heap and RSS) against the test server in a third process.
// Memory (RSS and JS heap after forced GC) with 1, 100 and 500 connected idle logged-in
// sockets and after ending half of them; then the client process' CPU time
// (process.cpuUsage, user + system) per 1,000 texts received from a simulated phone and per
// 1,000 sent to it, with 1 and with 10 in flight (received: not yet confirmed by our delivery
// receipt; sent: `sendMessage` not yet resolved), and per 1,000 received in a burst, after a
// warm-up of its own row (the first 4,000 texts each way, half 10 and half 1 in flight); and
// the CPU part again in rounds of fresh one-socket processes, Baileys and ours in turn. The
// CPU rows run with the test server on one core and the client on the others
// (`BENCH_PIN=0`: wherever the scheduler puts them), each after a pause without forced GC. A
// measurement, never a test.
//
//   npm run bench lean          BENCH_LEAN_SOCKETS=1,100,500  BENCH_LEAN_TEXTS=2000
//                               BENCH_LEAN_BAILEYS_MAX=100  BENCH_LEAN_RESTART=100
//                               BENCH_LEAN_WARMUP=4000  BENCH_LEAN_CPU_ROUNDS=5
//                               BENCH_LEAN_DELAY_MS=0 (frames to the client held back)
//   NAPI_RS_NATIVE_LIBRARY_PATH=F.node   ours from another build than the tests' `release` one,
//                               e.g. the `dist` profile users install (`cargo build --profile
//                               dist --lib -p baileys-native`, then target/dist/
//                               libbaileys_native.so copied to a name ending in .node); the
//                               bench prints the addon file ours mapped
//
// Then a restarted bot host (BENCH_LEAN_RESTART sockets, 0 skips it): each implementation
// pairs that many accounts with their auth in `useMultiFileAuthState` folders (its own
// implementation of Baileys' function, which most bots use) and ends them; a fresh process
// then logs them all in from the folders, and its RSS and heap are read with 1 and with all
// of them connected. That is the memory of a production host after a restart, without what
// pairing left behind and without the in-memory auth state of the first part. LEAN_SMAPS=1
// also prints, for the restarted host with all sockets up, its resident memory by mapping
// (the node binary, the addon, anonymous memory, malloc's main heap) and its largest
// anonymous mappings and its threads: `node benchmark/lean.bench.mjs --restart ours` runs that
// part alone. LEAN_SMAPS_FILE=PATH saves that process's whole /proc/self/smaps there, and
// LEAN_PAGEMAP=PATH which of the addon's pages are resident (offsets into its file, a JSON array).
//
// Baileys is measured up to BENCH_LEAN_BAILEYS_MAX sockets (100 by default): each Baileys
// pairing generates and signs its 812 pre-keys in JavaScript, about a second of CPU, so 500
// would take well over the bench's 10 minutes on a small machine. Ours goes to the largest
// count. Per-socket costs are compared over the range both measured.
import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { loadavg, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { remoteServer, settle, inFlight, clientFactory, pinApart, threadSwitches } from '../__test__/remote-server.mjs'

const COUNTS = (process.env.BENCH_LEAN_SOCKETS || '1,100,500').split(',').map(Number)
// Texts per CPU row. 2,000 (1,000 until stop 45): a lone received text costs us ~70 us, so a
// row of 1,000 was 70 ms of CPU, and one scavenge or one function compiled in it moved it by
// a tenth.
const TEXTS = Number(process.env.BENCH_LEAN_TEXTS || 2000)
// Rounds of the CPU part alone, Baileys and ours in turn (see `cpuRounds`). Five: single
// rounds of the one-at-a-time rows ranged 7.7x-11.9x on one machine in one day (stop 43), so
// that the median of three moved with where one round fell.
const CPU_ROUNDS = Number(process.env.BENCH_LEAN_CPU_ROUNDS ?? 5)
// Texts each way before the CPU rows, on a row of their own (see `child`). 1,000: after 200,
// V8's optimizing compiler was still compiling both implementations' per-message functions
// inside the measured rows (`--trace-opt`: ours' deliver, emitBatch, sentText, sendPlainText
// after some 300 texts, 20-30 ms of compiling), which is a cost once per process. 4,000 (2,000
// per window) since stop 45: after 1,000 per window ours still compiled `onEvents`,
// `receivedBatch`, `deliver` and `derivedEvents` inside "received, 1 in flight" (+20 ms in
// blocks of 1,000 one-at-a-time texts after the warm-up: 70-83 ms against 58-63 after);
// after 2,000 per window that first block read as the ones after it.
const WARMUP = Number(process.env.BENCH_LEAN_WARMUP ?? 4000)
// Frames from the server to the measured socket held back this many ms in the CPU part (see
// `child`); 0, the default, sends them at once.
const DELAY_MS = Number(process.env.BENCH_LEAN_DELAY_MS || 0)
const BAILEYS_MAX = Number(process.env.BENCH_LEAN_BAILEYS_MAX || 100)
const RESTART = Number(process.env.BENCH_LEAN_RESTART ?? 100)
const countsOf = (impl) => (impl === 'baileys' ? COUNTS.filter((n) => n <= BAILEYS_MAX) : COUNTS)
// Pairing is what takes the time: a few at once, as a bot host restarting would.
const PAIR_CONCURRENCY = Number(process.env.BENCH_LEAN_PAIRING || 8)
const self = fileURLToPath(import.meta.url)
const progress = (...a) => process.env.BENCH_VERBOSE && console.error('[lean]', ...a)
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ')

const mode = ['--child', '--restart', '--restarted'].find((m) => process.argv.includes(m))
if (mode) {
  const impl = process.argv[process.argv.indexOf(mode) + 1]
  const result = await { '--child': child, '--restart': restart, '--restarted': restarted }[mode](impl)
  process.stdout.write(`${JSON.stringify(result)}\n`)
  // Baileys leaves 30 s timers behind after prekey uploads; the numbers are out, so leave.
  process.exit(0)
} else {
  parent()
}

function parent() {
  const max = Math.max(...COUNTS)
  console.log(`\n### idle logged-in sockets (${COUNTS.join(', ')}), ${TEXTS} texts each way; each implementation in its own process`)
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}; load average before: ${load()}`)
  const results = {}
  for (const r of ['baileys', 'ours']) {
    const started = Date.now()
    results[r] = runChild(['--child', r])
    console.log(`${r}: ${((Date.now() - started) / 1000).toFixed(0)} s; load average after: ${load()}`)
  }
  const addons = results.ours.addons.map((f) => `${f} (${(statSync(f).size / 1e6).toFixed(1)} MB)`)
  console.log(`ours' addon: ${addons.join(', ') || 'none mapped'}`)
  const b = results.baileys
  const o = results.ours
  const head = (unit, ratio = 'Baileys / ours') =>
    console.log(`${'measure'.padEnd(44)}${'Baileys'.padStart(10)}${'ours'.padStart(10)}  ${unit.padEnd(8)}${ratio}`)
  // The ratio is "how many times better ours is": Baileys / ours for costs, ours / Baileys
  // for rates (higher = true).
  const row = (name, bv, ov, unit, higher = false) => {
    const [num, den] = higher ? [ov, bv] : [bv, ov]
    const ratio = bv === undefined || ov === undefined || !(den > 0) ? '-' : `${(num / den).toFixed(2)}x`
    console.log(`${name.padEnd(44)}${fmt(bv).padStart(10)}${fmt(ov).padStart(10)}  ${unit.padEnd(8)}${ratio}`)
  }

  console.log('\nmemory after forced GC (lower is better; ratio > 1: ours smaller)')
  head('unit')
  for (const n of COUNTS) {
    row(`RSS, ${n} idle socket${n === 1 ? '' : 's'}`, b.mem[n]?.rss, o.mem[n]?.rss, 'MB')
    row(`JS heap, ${n} idle socket${n === 1 ? '' : 's'}`, b.mem[n]?.heap, o.mem[n]?.heap, 'MB')
  }
  for (const [name, m] of [['Baileys', b], ['ours', o]]) {
    const top = Math.max(...Object.keys(m.mem).map(Number))
    const ended = top - Math.max(1, Math.floor(top / 2))
    const line = (what, v) => row(`${what} after ending ${ended} of ${top} (${name})`, name === 'ours' ? undefined : v, name === 'ours' ? v : undefined, 'MB')
    line('RSS', m.half.rss)
    line('JS heap', m.half.heap)
  }
  const first = COUNTS[0]
  const per = (m, n, k) => (m.mem[n] ? ((m.mem[n][k] - m.mem[first][k]) / (n - first)) * 1024 : undefined)
  for (const n of COUNTS.slice(1)) {
    row(`RSS per extra socket, ${first} -> ${n}`, per(b, n, 'rss'), per(o, n, 'rss'), 'KB')
    row(`JS heap per extra socket, ${first} -> ${n}`, per(b, n, 'heap'), per(o, n, 'heap'), 'KB')
  }
  const returned = (m) => {
    const top = Math.max(...Object.keys(m.mem).map(Number))
    const ended = top - Math.max(1, Math.floor(top / 2))
    return ended > 0 ? ((m.mem[top].rss - m.half.rss) / ended) * 1024 : undefined
  }
  row('RSS returned per ended socket', returned(b), returned(o), 'KB')

  console.log(`\nclient CPU per 1,000 texts (user + system of the client process; ratio > 1: ours cheaper)`)
  console.log(`placement: ${o.placement}; each row after a 1.5 s pause, no forced GC${DELAY_MS > 0 ? `; frames to the client ${DELAY_MS} ms late (BENCH_LEAN_DELAY_MS)` : ''}`)
  head('unit')
  for (const k of Object.keys(o.cpu)) row(k, b.cpu[k].msPer1000, o.cpu[k].msPer1000, 'ms CPU')
  sleepsTable(b.cpu, o.cpu)
  if (CPU_ROUNDS > 0) cpuRounds(head)
  console.log('\nthroughput in the same runs (bounded by the test server, which runs the phone; ratio > 1: ours faster)')
  head('unit', 'ours / Baileys')
  for (const k of Object.keys(o.cpu)) row(k, b.cpu[k].perSec, o.cpu[k].perSec, 'texts/s', true)
  const top = (m) => Math.max(...Object.keys(m.mem).map(Number))
  console.log(
    `\npairing, ${PAIR_CONCURRENCY} at a time: Baileys ${top(b)} sockets in ${b.pairSeconds.toFixed(0)} s, ours ${top(o)} in ${o.pairSeconds.toFixed(0)} s` +
      (top(b) < max ? ` (Baileys measured up to ${top(b)} sockets: BENCH_LEAN_BAILEYS_MAX)` : ''),
  )
  if (RESTART > 1) restartTable(head, row)
}

function restartTable(head, row) {
  console.log(`\n### a restarted bot host: ${RESTART} sockets log in with auth paired earlier, kept in useMultiFileAuthState folders; a fresh process per implementation`)
  const r = {}
  for (const impl of ['baileys', 'ours']) {
    r[impl] = runChild(['--restart', impl])
    console.log(`${impl}: load average after: ${load()}`)
  }
  const [b, o] = [r.baileys, r.ours]
  console.log('\nmemory after forced GC (lower is better; ratio > 1: ours smaller)')
  head('unit')
  row('RSS, 1 socket logged in', b.one.rss, o.one.rss, 'MB')
  row(`RSS, ${RESTART} sockets logged in`, b.all.rss, o.all.rss, 'MB')
  row(`JS heap, ${RESTART} sockets logged in`, b.all.heap, o.all.heap, 'MB')
  const per = (m, k) => ((m.all[k] - m.one[k]) / (RESTART - 1)) * 1024
  row(`RSS per extra socket, 1 -> ${RESTART}`, per(b, 'rss'), per(o, 'rss'), 'KB')
  row(`JS heap per extra socket, 1 -> ${RESTART}`, per(b, 'heap'), per(o, 'heap'), 'KB')
}

/**
 * How many times this process' threads went to sleep so far (voluntary context switches, all
 * threads): each sleep is a wake-up to pay for when the next frame comes, a cost in the
 * kernel and in the loop's turn that does not shrink with a cheaper message.
 */
function sleeps() {
  let n = 0
  for (const t of threadSwitches().values()) n += t.n
  return n
}

/**
 * The CPU rows again, from CPU_ROUNDS pairs of fresh one-socket processes, Baileys then ours,
 * so that each of our rounds is set against a Baileys round run just before it on the same
 * machine: on a shared machine the speed drifts by tens of percent over minutes, and one
 * pair of runs minutes apart moved a ratio by as much. Each row: the medians, the median
 * of the per-round ratios, and the lowest and highest of them; then every round's ratio and
 * both sides' CPU, so a reader sees how many rounds a target held in and which side moved.
 */
function cpuRounds(head) {
  const rounds = []
  for (let i = 0; i < CPU_ROUNDS; i++) {
    const b = runChild(['--child', 'baileys'], { BENCH_LEAN_SOCKETS: '1' }).cpu
    const o = runChild(['--child', 'ours'], { BENCH_LEAN_SOCKETS: '1' }).cpu
    rounds.push({ b, o })
  }
  const median = (xs) => {
    const s = [...xs].sort((x, y) => x - y)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  console.log(`\nclient CPU per 1,000 texts, ${CPU_ROUNDS} rounds of one socket in a fresh process, Baileys and ours in turn (ratio: median of the rounds' ratios, [lowest - highest])`)
  head('unit')
  const ratio = (r, k) => r.b[k].msPer1000 / r.o[k].msPer1000
  for (const k of Object.keys(rounds[0].o)) {
    const ratios = rounds.map((r) => ratio(r, k))
    const bm = median(rounds.map((r) => r.b[k].msPer1000))
    const om = median(rounds.map((r) => r.o[k].msPer1000))
    const spread = `${median(ratios).toFixed(2)}x [${Math.min(...ratios).toFixed(2)} - ${Math.max(...ratios).toFixed(2)}]`
    console.log(`${k.padEnd(44)}${fmt(bm).padStart(10)}${fmt(om).padStart(10)}  ${'ms CPU'.padEnd(8)}${spread}`)
  }
  console.log('\neach round in the order run: ratio (Baileys / ours, ms CPU per 1,000)')
  for (const k of Object.keys(rounds[0].o)) {
    console.log(`${k.padEnd(44)}${rounds.map((r) => `${ratio(r, k).toFixed(1)}x (${fmt(r.b[k].msPer1000)}/${fmt(r.o[k].msPer1000)})`).join(' ')}`)
  }
  const mid = (side) => Object.fromEntries(Object.keys(rounds[0].o).map((k) => [k, { sleepsPerText: median(rounds.map((r) => r[side][k].sleepsPerText)) }]))
  sleepsTable(mid('b'), mid('o'), 'median of the rounds')
}

/**
 * Sleeps per text in each CPU row (see `sleeps`): a client that is done with a text sooner
 * more often sleeps before the server's next frame (the ack of its receipt, the next text)
 * comes, and pays a wake-up for it; this is what part of the gap is.
 */
function sleepsTable(b, o, what = 'the rows above') {
  console.log(`\nsleeps of the client process per text (voluntary context switches, all threads; ${what})`)
  console.log(`${''.padEnd(44)}${'Baileys'.padStart(10)}${'ours'.padStart(10)}`)
  for (const k of Object.keys(o)) {
    if (b[k]?.sleepsPerText === undefined || o[k].sleepsPerText === undefined) continue
    console.log(`${k.padEnd(44)}${b[k].sleepsPerText.toFixed(2).padStart(10)}${o[k].sleepsPerText.toFixed(2).padStart(10)}`)
  }
}

/** Runs this file in a child process and returns the JSON of its last line. */
function runChild(args, env = {}) {
  const p = spawnSync(process.execPath, ['--expose-gc', self, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
    timeout: 900_000,
    maxBuffer: 64 * 2 ** 20,
    killSignal: 'SIGKILL',
  })
  const line = p.stdout.trim().split('\n').pop()
  if (p.status !== 0 || !line) {
    console.error(`${args.join(' ')}: child failed (status ${p.status}${p.signal ? `, killed: ${p.signal}` : ''})`)
    process.exit(1)
  }
  return JSON.parse(line)
}

// The accounts are paired here; the restarted host is a fresh process (`restarted`), while
// this one keeps the test server (and so the accounts) alive.
async function restart(impl) {
  const dir = mkdtempSync(join(tmpdir(), `lean-${impl}-`))
  const server = await remoteServer(`lean restart ${impl}`)
  const restore = impl === 'baileys' ? (await import('../__test__/testserver-util.mjs')).trustServer(server) : () => {}
  try {
    const make = await clientFactory(impl, server, { authDir: dir })
    await inFlight(RESTART, PAIR_CONCURRENCY, async (k) => {
      const c = make(`c${k}`)
      await c.pairByQR(`1555810${String(k).padStart(4, '0')}`, 'Bench')
      await c.end()
    })
    await settle() // the last credential and key writes land
    progress(impl, 'paired and ended', RESTART)
    return runChild(['--restarted', impl], {
      LEAN_SERVER_URL: server.url,
      LEAN_SERVER_KEY: server.rootPublicKey.toString('base64'),
      LEAN_AUTH_DIR: dir,
    })
  } finally {
    restore()
    server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function restarted(impl) {
  const server = { url: process.env.LEAN_SERVER_URL, rootPublicKey: Buffer.from(process.env.LEAN_SERVER_KEY, 'base64') }
  if (impl === 'baileys') (await import('../__test__/testserver-util.mjs')).trustServer(server)
  const make = await clientFactory(impl, server, { authDir: process.env.LEAN_AUTH_DIR })
  await make('c0').login()
  const one = await settle({ reducer: true })
  await inFlight(RESTART - 1, PAIR_CONCURRENCY, (k) => make(`c${k + 1}`).login())
  const all = await settle({ reducer: true })
  if (process.env.LEAN_SMAPS) {
    const m = process.memoryUsage()
    console.error(smapsSummary())
    console.error(`heapTotal ${(m.heapTotal / 2 ** 20).toFixed(1)} heapUsed ${(m.heapUsed / 2 ** 20).toFixed(1)} external ${(m.external / 2 ** 20).toFixed(1)} arrayBuffers ${(m.arrayBuffers / 2 ** 20).toFixed(1)}`)
    console.error(anonSummary())
    console.error(threadSummary())
  }
  if (process.env.LEAN_SMAPS_FILE) writeFileSync(process.env.LEAN_SMAPS_FILE, readFileSync('/proc/self/smaps', 'utf8'))
  if (process.env.LEAN_PAGEMAP) writeFileSync(process.env.LEAN_PAGEMAP, JSON.stringify(addonPages()))
  progress(impl, 'restarted', one, all)
  return { one, all }
}

/** Resident memory by mapping (file name, or the kind of anonymous memory), in MiB. */
function smapsSummary() {
  const by = new Map()
  let name = ''
  for (const l of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(l)
    if (head) {
      name = head[1].split('/').pop() || '[anonymous]'
      continue
    }
    const rss = /^Rss:\s+(\d+)/.exec(l)
    if (rss) by.set(name, (by.get(name) ?? 0) + Number(rss[1]))
  }
  return [...by]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([k, v]) => `${k} ${(v / 1024).toFixed(1)}`)
    .join(', ')
}

/** The addon's resident pages, as offsets into its file (from /proc/self/pagemap's present bit):
 * which of its code a host keeps mapped, for `scripts/code-order.mjs`. */
function addonPages() {
  const pages = []
  const fd = openSync('/proc/self/pagemap', 'r')
  const entry = Buffer.alloc(8)
  try {
    for (const { start, end, offset } of addonMappings()) {
      for (let va = start; va < end; va += 4096) {
        readSync(fd, entry, 0, 8, (va / 4096) * 8)
        if (entry[7] & 0x80) pages.push(offset + (va - start))
      }
    }
  } finally {
    closeSync(fd)
  }
  return pages
}

/** The process's threads by name. */
function threadSummary() {
  const by = new Map()
  for (const t of readdirSync('/proc/self/task')) {
    const name = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()
    by.set(name, (by.get(name) ?? 0) + 1)
  }
  return `threads: ${[...by].map(([k, v]) => `${k} ${v}`).join(', ')}`
}

/** Anonymous mappings by resident size. */
function anonSummary() {
  const rows = []
  let cur = null
  for (const l of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l)
    if (head) {
      cur = head[4] ? null : { size: (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024, perm: head[3] }
      if (cur) rows.push(cur)
      continue
    }
    const rss = /^Rss:\s+(\d+)/.exec(l)
    if (rss && cur) cur.rss = Number(rss[1])
  }
  return rows
    .filter((r) => r.rss > 256)
    .sort((a, b) => b.rss - a.rss)
    .map((r) => `${(r.rss / 1024).toFixed(1)}/${(r.size / 1024).toFixed(1)} ${r.perm}`)
    .join(', ')
}

function fmt(v) {
  if (v === undefined) return '-'
  const a = Math.abs(v)
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)
}

async function child(impl) {
  const server = await remoteServer(`lean bench ${impl}`)
  // Only Baileys needs its certificate check pointed at the test server; importing Baileys into
  // our process would put its module cost into our numbers.
  const restore = impl === 'baileys' ? (await import('../__test__/testserver-util.mjs')).trustServer(server) : () => {}
  const make = await clientFactory(impl, server)
  const number = (i) => `1555800${String(i).padStart(4, '0')}`

  const clients = []
  const mem = {}
  let pairMs = 0
  for (const n of countsOf(impl)) {
    const t0 = performance.now()
    const from = clients.length
    await inFlight(n - from, PAIR_CONCURRENCY, async (k) => {
      const c = make(`c${from + k}`)
      await c.pairByQR(number(from + k), 'Bench')
      clients[from + k] = c
    })
    pairMs += performance.now() - t0
    mem[n] = await settle({ reducer: true })
    progress(impl, n, 'paired', mem[n])
  }
  const max = clients.length
  // End the second half (the first socket stays for the CPU part); what they held should come back.
  const kept = Math.max(1, Math.floor(max / 2))
  await inFlight(max - kept, 16, (k) => clients[kept + k].end())
  const half = await settle({ reducer: true })
  progress(impl, 'half ended', half)

  // CPU with one socket left, so idle sockets' keepalives are not counted.
  await inFlight(kept - 1, 16, (k) => clients[1 + k].end())
  await settle()
  progress(impl, 'all but one ended')
  const c = clients[0]
  const me = `${c.number}@s.whatsapp.net`
  const phone = server.phone('15558099999')
  const cpu = {}
  // The CPU part alone runs with the server and this process on different cores (see
  // `pinApart`); the memory part before it was not pinned.
  const placement = pinApart(server)
  // BENCH_LEAN_DELAY_MS: every frame from the server to this socket that late, as from a
  // server one network hop away (a bot's is tens of ms off). Locally the server answers within
  // a fraction of a millisecond, so a client still busy with a text reads the server's next
  // frame (its receipt's ack, the next text) in the same wake-up, and one that finished sooner
  // sleeps and is woken for it: the slower client is spared wake-ups a real network would not
  // spare it (the sleeps table shows how many).
  if (DELAY_MS > 0 && (await server.delayFrames(c.sock.user.id, DELAY_MS)) !== 1) {
    throw new Error(`${impl}: BENCH_LEAN_DELAY_MS found no connection of ${c.sock.user.id} to delay`)
  }
  // Each row starts after a pause, without the forced GCs of the memory readings: after
  // three `gc()` calls V8 sized Baileys' old generation to what was live then, and the next
  // 1,000 received texts cost it 940-1,060 ms of CPU where its steady state was 610-700
  // (incremental marking again and again on V8's helper threads, its heap regrowing from
  // 30 MB); ours moved by less than its noise. Until stop 45 the rows came after `settle()`,
  // which flattered the ratios (docs/performance.md, stop 45).
  const pause = () => new Promise((r) => setTimeout(r, 1500))
  const measure = async (name, fn, texts = TEXTS) => {
    await pause()
    const s0 = sleeps()
    const u0 = process.cpuUsage()
    const t0 = performance.now()
    let timer
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${impl}: ${name} did not finish in 300 s`)), 300_000)
    })
    await Promise.race([fn(), limit]).finally(() => clearTimeout(timer))
    const wall = performance.now() - t0
    const u = process.cpuUsage(u0)
    const slept = sleeps() - s0
    progress(impl, name, u)
    cpu[name] = {
      msPer1000: (u.user + u.system) / 1000 / (texts / 1000),
      perSec: texts / (wall / 1000),
      sleepsPerText: slept / texts,
    }
  }
  let sentToPhone = 0
  // The phone's sends are driven from the server's process: a pipe round trip per text here
  // would cost this process ~0.2 ms of CPU per text, counted as the client's (it was, until
  // stop 32). A received text is in flight until our device's delivery receipt for it is
  // back at the phone (the receipt goes once the message is in the inbox), so "1 in
  // flight" is one message at a time, each arriving to an idle socket: a bot's usual traffic.
  const device = c.sock.user.id
  // The first texts a process handles also pay for compiling its JavaScript and for its first
  // touch of the code and data they use: a cost once per process, not per message. Measured on
  // its own row, so the rows after it are a running bot's cost per message. Half of it goes 10
  // in flight and half one at a time: code that only one of the two takes (a batch of one
  // received text; a send to a chat with no other send pending) was otherwise compiled inside
  // the first row that took it (`--trace-opt`: 12 ms of our 115 in "received, 1 in flight").
  // V8 optimizes a function called once per message after some 1,300-2,000 calls (three
  // profiler ticks of its bytecode budget), so each half is 1,000: with 500, `onEvents`,
  // `deliver` and `receivedBatch` were still compiled inside that row (16 ms).
  if (WARMUP > 0) {
    await measure(
      `warm-up: the first ${WARMUP} each way`,
      async () => {
        const half = Math.ceil(WARMUP / 2)
        for (const [count, window] of [
          [half, 10],
          [WARMUP - half, 1],
        ]) {
          const ids = await phone.sendTexts(me, { prefix: `warm ${window} `, count, inFlight: window, receiptFrom: device })
          await c.waitAll(ids)
          await inFlight(count, window, (i) => c.sock.sendMessage(phone.jid, { text: `warm ${window} ${i}` }))
          sentToPhone += count
          await phone.waitForInbox(sentToPhone, { timeoutMs: 300_000 })
        }
      },
      2 * WARMUP,
    )
  }
  for (const window of [1, 10]) {
    await measure(`received, ${window} in flight`, async () => {
      const ids = await phone.sendTexts(me, { prefix: `in ${window} `, count: TEXTS, inFlight: window, receiptFrom: device })
      await c.waitAll(ids)
    })
    await measure(`sent, ${window} in flight`, async () => {
      await inFlight(TEXTS, window, (i) => c.sock.sendMessage(phone.jid, { text: `out ${window} ${i}` }))
      sentToPhone += TEXTS
      await phone.waitForInbox(sentToPhone, { timeoutMs: 300_000 })
    })
  }
  // A burst: the phone sends as fast as the server takes its texts (its own send awaited, as
  // our "sent" rows await ours), so the socket reads several per wake-up.
  await measure('received, a burst', async () => {
    const ids = await phone.sendTexts(me, { prefix: 'burst ', count: TEXTS, inFlight: 1 })
    await c.waitAll(ids)
  })

  restore()
  server.stop()
  return { mem, half, cpu, placement, pairSeconds: pairMs / 1000, addons: mappedAddons() }
}

/** The native addons this process has mapped: which build a reading measured (the `release`
 * build the tests use, or another that `NAPI_RS_NATIVE_LIBRARY_PATH` names; when that one
 * does not load, the package falls back to its own without a word). */
function mappedAddons() {
  return [...new Set(addonMappings().map((m) => m.file))]
}

/** This process's mappings of native addons (`.node` files), from /proc/self/maps. */
function addonMappings() {
  const out = []
  for (const l of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \S+\s+(\S*\.node)$/.exec(l)
    if (m) out.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16), offset: parseInt(m[3], 16), file: m[4] })
  }
  return out
}
