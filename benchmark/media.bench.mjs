// Media, ours vs Baileys 7, each in its own process against the test server's HTTPS media host
// (the server in a third): encrypt + upload and download + decrypt of 1 MB and 50 MB files
// (MB/s each way, CPU of the client process, peak RSS while streaming the 50 MB download), an
// image sent end to end, and getAggregateVotesInPollMessage over 1,000 votes.
// `npm run bench media` (BENCH_MEDIA_MB=50 to change the large size). A measurement, not a test.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, createHash } from 'node:crypto'
import { Agent as HttpsAgent } from 'node:https'
import { remoteServer } from '../__test__/remote-server.mjs'

const BIG = Number(process.env.BENCH_MEDIA_MB || 50)
const self = fileURLToPath(import.meta.url)

if (process.argv.includes('--child')) {
  const impl = process.argv[process.argv.indexOf('--child') + 1]
  const out = await child(impl)
  console.log(`RESULT ${JSON.stringify(out)}`)
  process.exit(0)
} else {
  const results = {}
  for (const impl of ['baileys', 'ours']) {
    const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', impl], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 })
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
    if (!line) {
      console.error(r.stdout)
      process.exit(1)
    }
    results[impl] = JSON.parse(line.slice(7))
  }
  const b = results.baileys
  const o = results.ours
  const rows = [
    ['image sent end to end (ms, median of 5)', 'imageMs', false],
    ['encrypt + upload 1 MB (MB/s)', 'up1', true],
    ['download + decrypt 1 MB, buffer (MB/s)', 'down1', true],
    [`encrypt + upload ${BIG} MB (MB/s)`, 'upBig', true],
    [`download + decrypt ${BIG} MB, stream (MB/s)`, 'downBig', true],
    [`client CPU, upload ${BIG} MB (ms)`, 'upBigCpu', false],
    [`client CPU, download ${BIG} MB (ms)`, 'downBigCpu', false],
    [`peak RSS growth while streaming ${BIG} MB (MiB)`, 'peakRss', false],
    ['getAggregateVotesInPollMessage, 1,000 votes (ms)', 'pollMs', false],
  ]
  console.log(`| | Baileys 7 | baileys-native | ratio |`)
  console.log(`|---|---|---|---|`)
  for (const [label, k, higherBetter] of rows) {
    const ratio = higherBetter ? o[k] / b[k] : b[k] / o[k]
    console.log(`| ${label} | ${fmt(b[k])} | ${fmt(o[k])} | ${Number.isFinite(ratio) ? `${fmt(ratio)}x` : '-'} |`)
  }
}

function fmt(v) {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

async function child(impl) {
  const util = await import('../__test__/testserver-util.mjs')
  const server = await remoteServer(`media bench ${impl}`)
  const restore = util.trustServer(server)
  const dir = mkdtempSync(join(tmpdir(), 'bn-media-bench-'))
  const ca = join(dir, 'ca.pem')
  writeFileSync(ca, server.media.caPem)
  process.env.NODE_EXTRA_CA_CERTS = ca
  const B = await import('@whiskeysockets/baileys')
  const O = impl === 'ours' ? await import('../index.mjs') : null
  const lib = O ?? B
  const dispatcher = await util.mediaDispatcher(server.media.caPem)
  const dlOpts = impl === 'ours' ? {} : { options: { dispatcher } }

  let sock
  let peer
  if (impl === 'ours') {
    ;({ sock } = await util.pairOurSocket(server, '15558800001', { pushName: 'bench' }))
  } else {
    const c = new util.BaileysClient(server, 'bench', { fetchAgent: new HttpsAgent({ ca: server.media.caPem }) })
    await c.pairByQR('15558800001', 'bench')
    sock = c.sock
    peer = c
  }
  const phone = server.phone('15558800099')
  // The remote server makes a phone's account on its first control command.
  await phone.inbox()

  // An image sent end to end: encrypted, uploaded, the message encrypted and acked.
  const banner = new URL('../node_modules/pino/pino-banner.png', import.meta.url).pathname
  const times = []
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now()
    await sock.sendMessage(phone.jid, { image: { url: banner }, caption: 'bench' })
    times.push(performance.now() - t0)
  }
  const imageMs = times.sort((a, b) => a - b)[2]

  const upload = (filePath, opts) => sock.waUploadToServer(filePath, opts)
  async function up(bytes) {
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const m = await lib.prepareWAMessageMedia({ document: bytes, mimetype: 'application/octet-stream' }, { upload })
    const cpu = process.cpuUsage(cpu0)
    return { m, mbs: bytes.length / 2 ** 20 / ((performance.now() - t0) / 1000), cpu: (cpu.user + cpu.system) / 1000 }
  }
  async function down(m, mode) {
    const msg = { key: { remoteJid: phone.jid, fromMe: true, id: 'X' }, message: m }
    global.gc?.()
    const rss0 = process.memoryUsage().rss
    let peak = rss0
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 5)
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const h = createHash('sha256')
    let n = 0
    if (mode === 'buffer') {
      const buf = await lib.downloadMediaMessage(msg, 'buffer', dlOpts)
      h.update(buf)
      n = buf.length
    } else {
      for await (const chunk of await lib.downloadMediaMessage(msg, 'stream', dlOpts)) {
        h.update(chunk)
        n += chunk.length
      }
    }
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    clearInterval(timer)
    peak = Math.max(peak, process.memoryUsage().rss)
    return { n, digest: h.digest(), mbs: n / 2 ** 20 / (ms / 1000), cpu: (cpu.user + cpu.system) / 1000, peakRss: (peak - rss0) / 2 ** 20 }
  }

  const one = randomBytes(1 << 20)
  const u1 = await up(one)
  const d1 = await down(u1.m, 'buffer')
  const big = randomBytes(BIG << 20)
  const uBig = await up(big)
  const dBig = await down(uBig.m, 'stream')
  if (d1.n !== one.length || dBig.n !== big.length) throw new Error('a download came back with the wrong length')

  // getAggregateVotesInPollMessage over 1,000 votes on 4 options.
  const options = ['a', 'b', 'c', 'd']
  const hash = (o) => createHash('sha256').update(o).digest()
  const pollUpdates = Array.from({ length: 1000 }, (_, i) => ({
    pollUpdateMessageKey: { remoteJid: phone.jid, fromMe: false, id: `V${i}`, participant: `1555${i}@s.whatsapp.net` },
    vote: { selectedOptions: [hash(options[i % 4])] },
  }))
  const pollMsg = { message: { pollCreationMessage: { name: 'p', options: options.map((optionName) => ({ optionName })) } }, pollUpdates }
  lib.getAggregateVotesInPollMessage(pollMsg)
  const tp = performance.now()
  for (let i = 0; i < 20; i++) lib.getAggregateVotesInPollMessage(pollMsg)
  const pollMs = (performance.now() - tp) / 20

  restore()
  if (peer) await peer.end()
  else sock.end()
  server.stop()
  return {
    imageMs,
    up1: u1.mbs,
    down1: d1.mbs,
    upBig: uBig.mbs,
    downBig: dBig.mbs,
    upBigCpu: uBig.cpu,
    downBigCpu: dBig.cpu,
    peakRss: dBig.peakRss,
    pollMs,
  }
}
