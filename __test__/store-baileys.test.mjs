// Baileys auth folders both ways, with the real Baileys 7 and real libsignal-node sessions
// and sender keys: a folder written by Baileys opens in ours with every key equal, ours
// writes updates that the real Baileys reads back and keeps decrypting with, and the
// account survives a migration into SQLite and back out to a folder.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as baileys from '@whiskeysockets/baileys'
import { makeLibSignalRepository } from '@whiskeysockets/baileys/lib/Signal/libsignal.js'
import * as ours from '../index.js'

const tmp = mkdtempSync(join(tmpdir(), 'wa-store-baileys-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))

const silent = { level: 'silent', trace() {}, debug() {}, info() {}, warn() {}, error() {}, child() { return silent } }
const ALICE = '5511900000001@s.whatsapp.net'
const BOB = '5511900000002@s.whatsapp.net'
const GROUP = '120363000000000001@g.us'
const TYPES = ['sender-key-memory', 'app-state-sync-version', 'app-state-sync-key', 'identity-key', 'lid-mapping', 'device-list', 'sender-key', 'pre-key', 'session', 'tctoken']

function repo(state) {
  const keys = baileys.addTransactionCapability(state.keys, silent, { maxCommitRetries: 3, delayBetweenTriesMs: 10 })
  return makeLibSignalRepository({ creds: state.creds, keys }, silent)
}

// (type, id) of a key file, by the same rules Baileys' file names follow (test-side copy).
function parseFile(name) {
  const stem = name.slice(0, -'.json'.length)
  for (const type of TYPES) {
    if (!stem.startsWith(type + '-')) continue
    let id = stem.slice(type.length + 1)
    if (type === 'sender-key') {
      const parts = id.split('--')
      const device = parts.pop()
      const user = parts.pop()
      id = `${parts.join('--')}::${user}::${device}`
    } else id = id.replaceAll('__', '/')
    return { type, id }
  }
  return null
}

const enc = (v) => JSON.stringify(v, baileys.BufferJSON.replacer)

async function bobBundle(state) {
  const preKey = baileys.Curve.generateKeyPair()
  await state.keys.set({ 'pre-key': { 1: preKey } })
  const pub = (k) => Buffer.concat([Buffer.from([5]), k])
  return {
    registrationId: state.creds.registrationId,
    identityKey: pub(state.creds.signedIdentityKey.public),
    signedPreKey: {
      keyId: state.creds.signedPreKey.keyId,
      publicKey: pub(state.creds.signedPreKey.keyPair.public),
      signature: state.creds.signedPreKey.signature,
    },
    preKey: { keyId: 1, publicKey: pub(preKey.public) },
  }
}

test('a real Baileys folder opens in ours, ours writes it, Baileys reads it back, and it migrates', async () => {
  const aliceDir = join(tmp, 'alice')
  const bobDir = join(tmp, 'bob')
  const a = await baileys.useMultiFileAuthState(aliceDir)
  await a.saveCreds()
  const b = await baileys.useMultiFileAuthState(bobDir)
  b.state.creds.me = { id: '5511900000002:7@s.whatsapp.net', name: 'Bob' }
  b.state.creds.routingInfo = Buffer.from([1, 2, 3])
  await b.saveCreds()
  const alice = repo(a.state)
  let bob = repo(b.state)

  // A 1:1 session both ways and a group sender key, all through libsignal-node.
  await alice.injectE2ESession({ jid: BOB, session: await bobBundle(b.state) })
  let n = 0
  const say = async (to) => {
    const text = Buffer.from(`hello ${++n}`)
    const { type, ciphertext } = await alice.encryptMessage({ jid: BOB, data: text })
    const plain = await to.decryptMessage({ jid: ALICE, type, ciphertext })
    assert.equal(Buffer.from(plain).toString(), text.toString())
  }
  const reply = async (from) => {
    const text = Buffer.from(`reply ${++n}`)
    const { type, ciphertext } = await from.encryptMessage({ jid: ALICE, data: text })
    assert.equal(Buffer.from(await alice.decryptMessage({ jid: BOB, type, ciphertext })).toString(), text.toString())
  }
  const groupSay = async (to, first) => {
    const text = Buffer.from(`group ${++n}`)
    const { ciphertext, senderKeyDistributionMessage } = await alice.encryptGroupMessage({ group: GROUP, meId: ALICE, data: text })
    if (first) {
      await to.processSenderKeyDistributionMessage({ item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: senderKeyDistributionMessage }, authorJid: ALICE })
    }
    assert.equal(Buffer.from(await to.decryptGroupMessage({ group: GROUP, authorJid: ALICE, msg: ciphertext })).toString(), text.toString())
  }
  await say(bob)
  await reply(bob)
  await say(bob)
  await groupSay(bob, true)
  // The other types, with Baileys' own value shapes.
  await b.state.keys.set({
    'sender-key-memory': { [GROUP]: { [ALICE]: true } },
    'app-state-sync-key': { 'AAAAAB/x': { keyData: Buffer.alloc(32, 7), fingerprint: { rawId: 1, currentIndex: 2, deviceIndexes: [0, 1] }, timestamp: 1700000000000 } },
    'app-state-sync-version': { regular_high: { version: 3, hash: Buffer.alloc(128, 1), indexValueMap: { 'aGFzaA==': { valueMac: Buffer.alloc(32, 2) } } } },
    'lid-mapping': { 5511900000009: '100000000000009', '100000000000009_reverse': '5511900000009' },
    'device-list': { 5511900000001: ['0', '3'] },
    tctoken: { [ALICE]: { token: Buffer.alloc(16, 9), timestamp: '1700000000' } },
  })

  const files = readdirSync(bobDir).filter((f) => f.endsWith('.json'))
  const types = new Set(files.map((f) => f !== 'creds.json' && parseFile(f)?.type).filter(Boolean))
  assert.deepEqual([...types].sort(), [...TYPES].filter((t) => t !== 'pre-key').sort(), 'a realistic folder (the used pre-key is gone)')
  assert.ok(files.some((f) => /^session-5511900000001\.0\.json$/.test(f)))
  assert.ok(files.some((f) => /^sender-key-120363000000000001@g\.us--5511900000001--0\.json$/.test(f)))

  // Ours opens it: creds and every key equal to what is on disk.
  const o = await ours.useMultiFileAuthState(bobDir)
  assert.equal(enc(o.state.creds), readFileSync(join(bobDir, 'creds.json'), 'utf8'))
  let compared = 0
  for (const f of files) {
    if (f === 'creds.json') continue
    const { type, id } = parseFile(f)
    const onDisk = JSON.parse(readFileSync(join(bobDir, f), 'utf8'), baileys.BufferJSON.reviver)
    const { [id]: mine } = await o.state.keys.get(type, [id])
    assert.deepEqual(mine, onDisk, f)
    if (type !== 'app-state-sync-key') assert.deepEqual((await b.state.keys.get(type, [id]))[id], mine, f)
    compared++
  }
  assert.equal(compared, files.length - 1)
  assert.deepEqual(await o.state.keys.get('session', ['nobody.0']), { 'nobody.0': null }, 'missing ids are null, as in Baileys')

  // The real Baileys Signal code runs on our auth state: new sessions and sender keys written by us.
  bob = repo(o.state)
  await say(bob)
  await reply(bob)
  await groupSay(bob, false)
  o.state.creds.accountSyncCounter = 5
  await o.saveCreds()

  // The real Baileys reads what we wrote and goes on decrypting.
  const b2 = await baileys.useMultiFileAuthState(bobDir)
  assert.equal(b2.state.creds.accountSyncCounter, 5)
  assert.deepEqual(enc(b2.state.creds), enc(o.state.creds))
  const sess = (await b2.state.keys.get('session', ['5511900000001.0']))['5511900000001.0']
  assert.deepEqual(sess, (await o.state.keys.get('session', ['5511900000001.0']))['5511900000001.0'])
  bob = repo(b2.state)
  await say(bob)
  await groupSay(bob, false)

  // Into SQLite and on from there, then back out to a folder the real Baileys uses.
  const db = new ours.SqliteEngine(join(tmp, 'bob.db'))
  const report = await ours.migrateAuthFolderToEngine(bobDir, db)
  assert.equal(report.creds, true)
  assert.equal(report.keys, readdirSync(bobDir).filter((f) => f.endsWith('.json')).length - 1)
  const s = await ours.useStoreAuthState(db)
  assert.deepEqual(enc(s.state.creds), enc(b2.state.creds))
  bob = repo(s.state)
  await say(bob)
  await reply(bob)
  await groupSay(bob, false)
  const outDir = join(tmp, 'bob-out')
  const back = await ours.migrateEngineToAuthFolder(db, outDir)
  assert.equal(back.keys, report.keys)
  const b3 = await baileys.useMultiFileAuthState(outDir)
  bob = repo(b3.state)
  await say(bob)
  await groupSay(bob, false)
})

test('ours creates folders the real Baileys opens', async () => {
  const dir = join(tmp, 'fresh')
  const o = await ours.useMultiFileAuthState(dir)
  await o.saveCreds()
  await o.state.keys.set({ 'pre-key': { 1: baileys.Curve.generateKeyPair() }, 'app-state-sync-key': { 'a/b': { keyData: Buffer.from('k') } } })
  const b = await baileys.useMultiFileAuthState(dir)
  assert.equal(enc(b.state.creds), enc(o.state.creds))
  for (const k of ['noiseKey', 'pairingEphemeralKeyPair', 'signedIdentityKey', 'signedPreKey', 'registrationId', 'advSecretKey', 'nextPreKeyId', 'firstUnuploadedPreKeyId', 'accountSyncCounter', 'accountSettings', 'registered', 'processedHistoryMessages']) {
    assert.ok(k in b.state.creds, k)
  }
  // Our signed pre-key verifies with Baileys' own Curve.
  const { signedIdentityKey: id, signedPreKey: spk } = b.state.creds
  assert.equal(baileys.Curve.verify(id.public, Buffer.concat([Buffer.from([5]), spk.keyPair.public]), spk.signature), true)
  assert.deepEqual((await b.state.keys.get('pre-key', ['1']))['1'], (await o.state.keys.get('pre-key', ['1']))['1'])
  assert.ok(readdirSync(dir).includes('app-state-sync-key-a__b.json'))
  // And Baileys' initAuthCreds has the same fields as ours.
  assert.deepEqual(Object.keys(JSON.parse(enc(ours.initAuthCreds()))).sort(), Object.keys(JSON.parse(enc(baileys.initAuthCreds()))).sort())
})

test('BufferJSON matches Baileys both ways', () => {
  const v = { a: Buffer.from([0, 1, 255]), b: new Uint8Array([9]), c: { d: [Buffer.from('x')] }, e: { 0: 1, 1: 2 }, s: 'x' }
  assert.equal(JSON.stringify(v, ours.BufferJSON.replacer), JSON.stringify(v, baileys.BufferJSON.replacer))
  const text = JSON.stringify(v, baileys.BufferJSON.replacer)
  assert.deepEqual(JSON.parse(text, ours.BufferJSON.reviver), JSON.parse(text, baileys.BufferJSON.reviver))
})

test('bad input: corrupt JSON, truncated SQLite, path escapes, JIDs with /', async () => {
  const dir = join(tmp, 'corrupt')
  const o = await ours.useMultiFileAuthState(dir)
  writeFileSync(join(dir, 'session-1.0.json'), '{"_sessions": {')
  await assert.rejects(o.state.keys.get('session', ['1.0']), (err) => {
    assert.equal(err.code, 'ERR_WA_STORE_CORRUPT')
    assert.match(err.message, /session-1\.0\.json/)
    return true
  })
  writeFileSync(join(dir, 'creds.json'), '{"noiseKey":')
  await assert.rejects(ours.useMultiFileAuthState(dir), { code: 'ERR_WA_STORE_CORRUPT' })
  await assert.rejects(ours.migrateAuthFolderToEngine(dir, new ours.MemoryEngine()), { code: 'ERR_WA_STORE_CORRUPT' })

  const dbPath = join(tmp, 'trunc.db')
  const db = new ours.SqliteEngine(dbPath)
  await db.set('a/b', Buffer.alloc(100_000, 1))
  writeFileSync(join(tmp, 'cut.db'), readFileSync(dbPath).subarray(0, 60))
  assert.throws(() => new ours.SqliteEngine(join(tmp, 'cut.db')), { code: 'ERR_WA_STORE_CORRUPT' })

  const base = join(tmp, 'base')
  const fe = new ours.FileEngine(base)
  await assert.rejects(fe.set('../outside', Buffer.from('x')), { code: 'ERR_WA_STORE_BAD_PATH' })
  const store = new ours.Store(fe)
  await assert.rejects(store.chat('../../outside', {}), { code: 'ERR_WA_STORE_BAD_JID' })
  await assert.rejects(store.contact('a/b@s.whatsapp.net', {}), { code: 'ERR_WA_STORE_BAD_JID' })
  // Key ids and Baileys file names with '../' stay inside.
  await o.state.keys.set({ session: { '../../escaped.0': { x: 1 } } })
  await store.keys().set({ session: { '../../escaped.0': { x: 1 } } })
  assert.ok(!readdirSync(tmp).some((f) => f.includes('escaped') || f === 'outside'))
  assert.throws(() => new ours.FileEngine(join(dir, 'creds.json')), { code: 'ERR_WA_STORE_IO' })
})
