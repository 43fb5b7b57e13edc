// Regenerates build/code-order.txt: the addon's functions a running bot host executes, hottest
// first, which build.rs hands the linker (`--symbol-ordering-file`) so that they sit together at
// the start of the addon's code. Why: the kernel maps a shared library's code 64 KB around each
// page touched, so a host's resident code is decided by how scattered the executed functions
// are, not by how much of it runs (docs/performance.md, "Stop 39").
//
//   node scripts/code-order.mjs            (needs valgrind and a release build of the addon)
//
// The profiled process is a host after a restart: it logs in three accounts from
// `useMultiFileAuthState` folders (paired earlier by this script's parent), receives and sends
// texts one at a time and ten in flight, idles past a keep-alive, and ends its sockets, under
// callgrind. The test server runs in its own process, so only the client's code is counted. A
// second run pairs a new account; the functions only pairing uses follow the host's. Symbols
// the linker does not find (after a dependency or compiler update) are skipped by it;
// __test__/code-order.test.mjs says when too many are missing: rerun this script then.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const ADDON = /baileys-native\.[^/]*\.node$/
const OUT = join(root, 'build', 'code-order.txt')
const PHONE = '15558219999'
const [mode] = process.argv.slice(2)

if (['--setup', '--host', '--pair'].includes(mode)) {
  await child(mode)
  process.exit(0)
}

const { remoteServer } = await import('../__test__/remote-server.mjs')
const server = await remoteServer('code order')
const dir = mkdtempSync(join(tmpdir(), 'code-order-'))
try {
  await run('--setup')
  const sizes = symbolSizes()
  const host = await callgrind('--host', sizes)
  const pair = await callgrind('--pair', sizes)
  const seen = new Set(host.map((f) => f.name))
  const order = withCpuVariants([...host, ...pair.filter((f) => !seen.has(f.name))].map((f) => f.name), sizes)
  mkdirSync(dirname(OUT), { recursive: true })
  writeFileSync(OUT, `${order.join('\n')}\n`)
  const kb = (fns) => (fns.reduce((a, f) => a + f.size, 0) / 1024).toFixed(0)
  const more = order.slice(host.length)
  console.error(`code-order: ${host.length} functions run by the host (${kb(host)} KB), ${more.length} more by pairing; ${OUT}`)
} finally {
  server.stop()
  rmSync(dir, { recursive: true, force: true })
}

/**
 * Runs this script in `mode` under callgrind, serving its requests to the test server (the
 * server and the phone stay in this process); the addon's functions it ran, most instructions
 * first.
 */
async function callgrind(mode, sizes) {
  const out = join(dir, `callgrind${mode}.out`)
  await run(mode, ['valgrind', '--tool=callgrind', '--demangle=no', '--compress-strings=no', '--compress-pos=no', `--callgrind-out-file=${out}`])
  return selfCost(readFileSync(out, 'utf8'))
    .filter(([name]) => sizes.has(name))
    .sort((a, b) => b[1] - a[1])
    .map(([name]) => ({ name, size: sizes.get(name) }))
}

/** Runs this script in `mode` (behind `wrapper`, a command and its arguments), serving its requests to the test server. */
async function run(mode, wrapper = []) {
  const [cmd, ...args] = [...wrapper, process.execPath, '--expose-gc', fileURLToPath(import.meta.url), mode]
  const p = spawn(cmd, args, {
    env: { ...process.env, ORDER_SERVER_URL: server.url, ORDER_SERVER_KEY: server.rootPublicKey.toString('base64'), ORDER_AUTH_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  p.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000)
  })
  p.on('message', async ({ id, cmd, args }) => {
    try {
      const result = cmd === 'scanQR' ? await server.scanQR(...args) : await server.phone(PHONE)[cmd](...args)
      p.send({ id, result })
    } catch (e) {
      p.send({ id, error: String(e) })
    }
  })
  const code = await new Promise((r) => p.once('exit', r))
  if (code !== 0) throw new Error(`${mode} exited with ${code}: ${stderr}`)
}

/**
 * Names the profile could not see, listed right after the one it saw. Valgrind's CPU hides
 * the extensions a real one has (SHA, AVX2, BMI2/ADX), so the profile runs the portable
 * variant of a function that picks its code by CPU feature.
 */
function withCpuVariants(names, sizes) {
  const all = [...sizes.keys()]
  const variants = (name) =>
    name.endsWith('_alt')
      ? [name.slice(0, -4)]
      : /^_ZN4sha[12].*4soft.*compress/.test(name)
        ? all.filter((n) => n.startsWith(name.slice(0, 12)) && /x86|shani|avx/.test(n) && n.includes('compress'))
        : // A function ThinLTO exported from its unit (`.llvm.<hash>`, release builds) keeps
          // its plain name in a single-unit build (the `dist` profile): list that too.
          /\.llvm\.\d+$/.test(name)
          ? [name.replace(/\.llvm\.\d+$/, '')]
          : []
  const listed = new Set(names)
  const out = []
  for (const name of names) {
    out.push(name)
    for (const v of variants(name).filter((v) => !listed.has(v))) {
      listed.add(v)
      out.push(v)
    }
  }
  return out
}

/** Self instruction counts of the addon's functions from a callgrind profile (uncompressed names). */
function selfCost(text) {
  const cost = new Map()
  let ob = ''
  let fn = null
  let skip = false
  for (const line of text.split('\n')) {
    if (line.startsWith('ob=')) ob = line.slice(3)
    else if (line.startsWith('fn=')) fn = ADDON.test(ob) ? line.slice(3) : null
    else if (line.startsWith('calls=')) skip = true // the next line is the call's inclusive cost
    else if (/^[0-9+-]/.test(line)) {
      if (skip) skip = false
      else if (fn) cost.set(fn, (cost.get(fn) ?? 0) + Number(line.split(' ')[1] ?? 0))
    }
  }
  return [...cost]
}

/** The built addon's function symbols and their sizes. */
function symbolSizes() {
  const addon = join(root, 'baileys-native.linux-x64-gnu.node')
  const nm = spawnSync('nm', ['-S', '--defined-only', addon], { maxBuffer: 256 * 2 ** 20 })
  const sizes = new Map()
  for (const l of nm.stdout.toString().split('\n')) {
    const [, size, kind, name] = l.split(' ')
    if (name && /^[tTwW]$/.test(kind)) sizes.set(name, parseInt(size, 16))
  }
  return sizes
}

/** The profiled process: its test server requests go to the parent over IPC. */
async function child(mode) {
  const { clientFactory, inFlight, settle } = await import('../__test__/remote-server.mjs')
  const pending = new Map()
  let next = 1
  process.on('message', ({ id, result, error }) => {
    const w = pending.get(id)
    pending.delete(id)
    if (error) w.reject(new Error(error))
    else w.resolve(result)
  })
  const ask = (cmd, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++
      pending.set(id, { resolve, reject })
      process.send({ id, cmd, args })
    })
  const server = {
    url: process.env.ORDER_SERVER_URL,
    rootPublicKey: Buffer.from(process.env.ORDER_SERVER_KEY, 'base64'),
    scanQR: (...args) => ask('scanQR', ...args),
  }
  const make = await clientFactory('ours', server, { authDir: process.env.ORDER_AUTH_DIR })
  if (mode === '--setup') {
    for (let k = 0; k < 3; k++) {
      const c = make(`c${k}`)
      await c.pairByQR(`1555820${String(k).padStart(4, '0')}`)
      await c.end()
    }
    await settle()
    process.disconnect()
    return
  }
  if (mode === '--pair') {
    const c = make('new')
    await c.pairByQR('15558209999')
    await c.end()
    process.disconnect()
    return
  }
  const clients = [make('c0'), make('c1'), make('c2')]
  for (const c of clients) await c.login()
  await settle()
  const phoneJid = `${PHONE}@s.whatsapp.net`
  for (const c of clients) {
    const me = c.sock.user.id
    for (const flight of [1, 10]) {
      const ids = await ask('sendTexts', me, { prefix: 'in ', count: 30, inFlight: flight, receiptFrom: me })
      await c.waitAll(ids)
    }
  }
  let sent = 0
  for (const c of clients) {
    for (const flight of [1, 10]) {
      await inFlight(30, flight, (i) => c.sock.sendMessage(phoneJid, { text: `out ${i}` }))
      sent += 30
    }
  }
  await ask('waitForInbox', sent, { timeoutMs: 300_000 })
  // Idle past a keep-alive (30 s) and past the runtime's idle threads' exit (10 s), as a host does.
  await new Promise((r) => setTimeout(r, 35_000))
  for (const c of clients) await c.end()
  process.disconnect()
}
