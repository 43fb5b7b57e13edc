// Signal layer: our makeLibSignalRepository vs Baileys 7's (libsignal-node underneath), on the
// same in-memory key store wrapped in Baileys' addTransactionCapability (what Baileys' socket
// hands the repository), in one run. A measurement, not a test.
//
//   node benchmark/signal.bench.mjs            (or: npm run bench signal)
import { createRequire } from 'node:module'
import * as baileys from '@whiskeysockets/baileys'
import { makeLibSignalRepository as makeBaileysRepository } from '@whiskeysockets/baileys/lib/Signal/libsignal.js'

const require = createRequire(import.meta.url)
const ours = require('../index.js')
const { Curve, addTransactionCapability, generateSignalPubKey, initAuthCreds } = baileys

for (const m of ['info', 'warn', 'log']) console[`_${m}`] = console[m]
const print = console.log.bind(console)
for (const m of ['info', 'warn', 'error', 'log']) console[m] = () => {} // libsignal-node narrates
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child: () => silent }

function memoryStore() {
  const m = new Map()
  return {
    async get(type, ids) {
      const out = {}
      for (const id of ids) {
        const v = m.get(`${type}/${id}`)
        if (v !== undefined) out[id] = v
      }
      return out
    },
    async set(data) {
      for (const [type, values] of Object.entries(data)) {
        for (const [id, v] of Object.entries(values)) {
          if (v == null) m.delete(`${type}/${id}`)
          else m.set(`${type}/${id}`, v)
        }
      }
    },
  }
}

async function makeParty(kind, jid) {
  const store = memoryStore()
  await store.set({ 'pre-key': { 1: Curve.generateKeyPair() } })
  const auth = { creds: initAuthCreds(), keys: addTransactionCapability(store, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 }) }
  const make = kind === 'ours' ? ours.makeLibSignalRepository : makeBaileysRepository
  return { jid, auth, store, repo: make(auth, silent) }
}

async function bundle(p) {
  const { creds } = p.auth
  const pre = (await p.store.get('pre-key', ['1']))['1']
  return {
    registrationId: creds.registrationId,
    identityKey: generateSignalPubKey(creds.signedIdentityKey.public),
    signedPreKey: {
      keyId: creds.signedPreKey.keyId,
      publicKey: generateSignalPubKey(creds.signedPreKey.keyPair.public),
      signature: creds.signedPreKey.signature,
    },
    preKey: { keyId: 1, publicKey: generateSignalPubKey(pre.public) },
  }
}

async function pairOf(kind) {
  const a = await makeParty(kind, '5511000000001@s.whatsapp.net')
  const b = await makeParty(kind, '5511000000002@s.whatsapp.net')
  await a.repo.injectE2ESession({ jid: b.jid, session: await bundle(b) })
  const first = await a.repo.encryptMessage({ jid: b.jid, data: Buffer.from('hi') })
  await b.repo.decryptMessage({ jid: a.jid, type: first.type, ciphertext: first.ciphertext })
  const reply = await b.repo.encryptMessage({ jid: a.jid, data: Buffer.from('hi') })
  await a.repo.decryptMessage({ jid: b.jid, type: reply.type, ciphertext: reply.ciphertext })
  return { a, b }
}

const payload = Buffer.alloc(200, 7) // a typical padded text message

async function oneToOne(from, to) {
  const { type, ciphertext } = await from.repo.encryptMessage({ jid: to.jid, data: payload })
  await to.repo.decryptMessage({ jid: from.jid, type, ciphertext })
}

// Runs `step` for about `ms` milliseconds (after a warm-up) and returns steps per second.
async function rate(step, ms = 1500) {
  for (let i = 0; i < 20; i++) await step(i)
  globalThis.gc?.()
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < ms) await step(n++)
  return (n * 1000) / (performance.now() - t0)
}

const rows = []
function row(name, mine, theirs, unit) {
  rows.push({ name, mine, theirs, unit })
  print(`${name.padEnd(44)} ours ${mine.toFixed(0).padStart(8)} ${unit}   baileys ${theirs.toFixed(0).padStart(7)} ${unit}   x${(mine / theirs).toFixed(1)}`)
}

print(`Signal: ours (Rust) vs Baileys 7.0.0-rc14 repository (libsignal-node), node ${process.version}`)

// 1:1, alternating direction: every message steps the DH ratchet (2 X25519 + a key pair).
{
  const o = await pairOf('ours')
  const t = await pairOf('baileys')
  const mine = await rate((i) => (i % 2 ? oneToOne(o.a, o.b) : oneToOne(o.b, o.a)))
  const theirs = await rate((i) => (i % 2 ? oneToOne(t.a, t.b) : oneToOne(t.b, t.a)))
  row('1:1 encrypt+decrypt, alternating', mine, theirs, 'msg/s')
}

// 1:1, one direction: chain steps only (HMAC, AES, MAC), no DH.
{
  const o = await pairOf('ours')
  const t = await pairOf('baileys')
  const mine = await rate(() => oneToOne(o.a, o.b))
  const theirs = await rate(() => oneToOne(t.a, t.b))
  row('1:1 encrypt+decrypt, one direction', mine, theirs, 'msg/s')
}

// Groups: one sender, one reader. Baileys' sender record grows by a skipped key per message,
// so its rate falls the longer the run; both run the same number of messages.
{
  const GROUP = '120363040000000001@g.us'
  const N = 300
  const result = {}
  for (const kind of ['ours', 'baileys']) {
    const s = await makeParty(kind, '5511000000003@s.whatsapp.net')
    const r = await makeParty(kind, '5511000000004@s.whatsapp.net')
    const skdm = await s.repo.getSenderKeyDistributionMessage({ group: GROUP, meId: s.jid })
    await r.repo.processSenderKeyDistributionMessage({ item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: skdm }, authorJid: s.jid })
    const sent = []
    globalThis.gc?.()
    let t0 = performance.now()
    for (let i = 0; i < N; i++) sent.push((await s.repo.encryptGroupMessage({ group: GROUP, meId: s.jid, data: payload })).ciphertext)
    const enc = (N * 1000) / (performance.now() - t0)
    t0 = performance.now()
    for (const c of sent) await r.repo.decryptGroupMessage({ group: GROUP, authorJid: s.jid, msg: c })
    const dec = (N * 1000) / (performance.now() - t0)
    const own = (await s.store.get('sender-key', [`${GROUP}::5511000000003::0`]))[`${GROUP}::5511000000003::0`]
    result[kind] = { enc, dec, ownRecord: Buffer.from(own).length }
  }
  row(`group encrypt (${N} messages)`, result.ours.enc, result.baileys.enc, 'msg/s')
  row(`group decrypt (${N} messages)`, result.ours.dec, result.baileys.dec, 'msg/s')
  print(`sender's own record after ${N} messages: ours ${result.ours.ownRecord} B, baileys ${result.baileys.ownRecord} B`)
}
