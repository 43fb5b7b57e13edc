// One account's everything in one engine, and migration between any two, on real servers:
// a folder written by the real Baileys (1,000 sessions) plus 10,000 stored messages goes to
// PostgreSQL, then to S3, then back to a folder that is byte-equal to the original and that
// the real Baileys' useMultiFileAuthState reads; the CLI, SIGKILLed mid-copy, resumes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as baileys from '@whiskeysockets/baileys'
import * as ours from '../index.js'
import { startServers, createBucket, s3Credentials } from './store-servers.mjs'

const tmp = mkdtempSync(join(tmpdir(), 'wa-store-migrate-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
const servers = startServers('all')
const pgUrl = servers.WA_TEST_PG_URL
const s3 = servers.WA_TEST_S3_ENDPOINT
await createBucket(s3, 'migrate')
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'baileys-native.js')
const s3Engine = (prefix) => new ours.S3Engine({ bucket: 'migrate', prefix, endpoint: s3, forcePathStyle: true, credentials: s3Credentials })

test('two accounts in one database or bucket are separated by prefix', async () => {
  for (const [a, b] of [
    [new ours.PostgresEngine(pgUrl, { prefix: 'acct/alice' }), new ours.PostgresEngine(pgUrl, { prefix: 'acct/bob' })],
    [s3Engine('acct/alice'), s3Engine('acct/bob')],
  ]) {
    const alice = await ours.useEngineAuthState(a)
    const bob = await ours.useEngineAuthState(b)
    await alice.saveCreds()
    await alice.state.keys.set({ session: { '5511:1.0': { secret: Buffer.from('alice-only') } }, 'lid-mapping': { 5511: '999@lid' }, 'device-list': { 5511: ['0', '1'] } })
    assert.deepEqual(await bob.state.keys.get('session', ['5511:1.0']), {})
    assert.deepEqual(await b.list('session/signal/session'), [])
    assert.equal(await b.get('session/creds'), null)
    // Alice reads her own back, strings and arrays included; a fresh handle too.
    const again = await ours.useEngineAuthState(a)
    assert.deepEqual(again.state.creds.noiseKey.public, alice.state.creds.noiseKey.public)
    assert.deepEqual(await again.state.keys.get('session', ['5511:1.0']), { '5511:1.0': { secret: Buffer.from('alice-only') } })
    assert.deepEqual(await again.state.keys.get('lid-mapping', ['5511']), { 5511: '999@lid' })
    assert.deepEqual(await again.state.keys.get('device-list', ['5511']), { 5511: ['0', '1'] })
    assert.deepEqual(await a.list('session/signal/session'), ['session/signal/session/5511:1.0'])
  }
})

// Every file of a folder except our own machinery, name -> bytes.
function folderFiles(dir) {
  const out = new Map()
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue
    out.set(name, readFileSync(join(dir, name)))
  }
  return out
}

test('Baileys folder (1,000 sessions) + 10,000 messages -> PostgreSQL -> S3 -> folder, verified, resumable', { timeout: 900_000 }, async () => {
  // The real Baileys writes the folder.
  const src = join(tmp, 'baileys')
  const { state, saveCreds } = await baileys.useMultiFileAuthState(src)
  await saveCreds()
  const sessions = {}
  for (let i = 0; i < 1000; i++) {
    sessions[`55119${String(i).padStart(8, '0')}.0`] = {
      _sessions: { [Buffer.alloc(33, i % 251).toString('base64')]: { registrationId: i, currentRatchet: { rootKey: Buffer.alloc(32, i % 256) } } },
      version: 'v1',
    }
  }
  await state.keys.set({ session: sessions, 'pre-key': { 1: baileys.Curve.generateKeyPair() }, 'lid-mapping': { 5511: '77@lid' } })
  // 10,000 stored messages in the same folder (in our store beside Baileys' files),
  // written by another process (a process of ours holds a folder open while it lives).
  const writer = `
    const ours = require(${JSON.stringify(join(dirname(fileURLToPath(import.meta.url)), '..', 'index.js'))})
    ;(async () => {
      const folder = new ours.BaileysFolderEngine(${JSON.stringify(src)})
      const store = new ours.Store(folder)
      for (let b = 0; b < 20; b++) {
        const messages = []
        for (let i = b * 500; i < (b + 1) * 500; i++) {
          const jid = '55119' + String(i % 50).padStart(8, '0') + '@s.whatsapp.net'
          messages.push({
            message: { key: { remoteJid: jid, id: '3EB0' + String(i).padStart(16, '0'), fromMe: i % 2 === 0 }, messageTimestamp: 1700000000 + i, message: { conversation: 'hello ' + i + ' ✓' } },
            content: i % 100 === 0 ? Buffer.alloc(2048, i % 256) : undefined,
          })
        }
        await store.write({ messages })
      }
      console.log(JSON.stringify(await ours.engineChecksum(folder)))
    })().catch((e) => { console.error(e); process.exit(1) })`
  const before = JSON.parse(execFileSync(process.execPath, ['-e', writer], { encoding: 'utf8' }).trim())
  // creds + 1,000 sessions + 1 pre-key + 1 lid mapping + 10,000 messages + 10,000 timeline + 100 contents
  assert.equal(before.count, 1 + 1000 + 1 + 1 + 10_000 + 10_000 + 100)
  const originalFiles = folderFiles(src)

  // Folder -> PostgreSQL, with the CLI, killed mid-copy and run again: it resumes.
  const pgUri = `${pgUrl}?prefix=${encodeURIComponent('migrated/account-1')}`
  const state1 = join(tmp, 'state-pg.json')
  const child = spawn(process.execPath, [cli, 'migrate', `baileys:${src}`, pgUri, '--state', state1, '--batch', '200', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  // Kill once the progress file says a few batches are in.
  await new Promise((resolve) => {
    const t = setInterval(() => {
      let copied = 0
      try {
        copied = JSON.parse(readFileSync(state1, 'utf8')).copied
      } catch {}
      if (copied >= 1000) {
        clearInterval(t)
        child.kill('SIGKILL')
        resolve()
      }
    }, 20)
    child.on('exit', () => {
      clearInterval(t)
      resolve()
    })
  })
  const partial = JSON.parse(readFileSync(state1, 'utf8')).copied
  assert.ok(partial > 0 && partial < before.count, `killed mid-copy (${partial} of ${before.count})`)
  const out = execFileSync(process.execPath, [cli, 'migrate', `baileys:${src}`, pgUri, '--state', state1, '--batch', '200', '--json'], { encoding: 'utf8' })
  const r1 = JSON.parse(out.trim().split('\n').pop())
  assert.equal(r1.resumed, true)
  assert.ok(r1.copied < before.count, 'the resumed run copied only what was left')
  assert.equal(r1.destinationCount, before.count)
  assert.equal(r1.destinationChecksum, before.checksum)

  // PostgreSQL -> S3 -> a new folder, with the function.
  const pgEngine = new ours.PostgresEngine(pgUrl, { prefix: 'migrated/account-1' })
  const s3Account = s3Engine('.baileys/account-1')
  const r2 = await ours.migrate(pgEngine, s3Account, { batch: 1000 })
  assert.equal(r2.destinationChecksum, before.checksum)
  const back = join(tmp, 'back')
  const r3 = await ours.migrate(s3Account, new ours.BaileysFolderEngine(back), { batch: 1000 })
  assert.equal(r3.destinationCount, before.count)
  assert.equal(r3.destinationChecksum, before.checksum)

  // The source is untouched; the result is Baileys' folder byte for byte.
  assert.deepEqual(await ours.engineChecksum(new ours.BaileysFolderEngine(src)), before)
  const backFiles = folderFiles(back)
  assert.deepEqual([...backFiles.keys()].sort(), [...originalFiles.keys()].sort())
  for (const [name, bytes] of originalFiles) assert.ok(bytes.equals(backFiles.get(name)), name)

  // The real Baileys reads the migrated folder as it read the original.
  const reread = await baileys.useMultiFileAuthState(back)
  const original = await baileys.useMultiFileAuthState(src)
  assert.deepEqual(reread.state.creds, original.state.creds)
  assert.ok(Buffer.isBuffer(reread.state.creds.noiseKey.private))
  const ids = Object.keys(sessions).filter((_, i) => i % 97 === 0)
  assert.deepEqual(await reread.state.keys.get('session', ids), await state.keys.get('session', ids))
  assert.deepEqual(await reread.state.keys.get('lid-mapping', ['5511']), { 5511: '77@lid' })
  // And the messages came along, newest first.
  const msgs = await new ours.Store(new ours.BaileysFolderEngine(back)).messages('5511900000049@s.whatsapp.net', { limit: 3 })
  assert.deepEqual(msgs.map((m) => m.id), ['3EB00000000000009999', '3EB00000000000009949', '3EB00000000000009899'])
  assert.deepEqual(await new ours.Store(new ours.BaileysFolderEngine(back)).content('5511900000000@s.whatsapp.net', '3EB00000000000009900'), Buffer.alloc(2048, 9900 % 256))
})

// A user's engine: a Map, JSON objects only (what our bridge hands it).
class MapEngine extends ours.Engine {
  map = new Map()
  async get(p) {
    return this.map.get(p) ?? null
  }
  async set(p, v) {
    if (v === null) this.map.delete(p)
    else this.map.set(p, structuredClone(v))
    return true
  }
  async list(prefix, offset = 0, limit = 50) {
    const kids = [...this.map.keys()].filter((k) => k.startsWith(prefix + '/') && !k.slice(prefix.length + 1).includes('/'))
    return kids.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).slice(offset, offset + limit)
  }
}

test('a user\'s JavaScript engine migrates both ways (walked by the path convention)', async () => {
  const user = new MapEngine()
  const auth = await ours.useEngineAuthState(user)
  await auth.saveCreds()
  await auth.state.keys.set({ session: { 'a.0': { k: Buffer.from([1, 2]) } }, 'device-list': { a: ['0'] }, 'app-state-sync-key': { 'AAA/b+c=': { keyData: Buffer.from('k') } } })
  const store = new ours.Store(user)
  await store.write({
    chats: [{ id: 'c@g.us', name: 'group' }],
    contacts: [{ id: 'a@s.whatsapp.net', name: 'Ann' }],
    messages: [{ message: { key: { remoteJid: 'c@g.us', id: 'M1' }, messageTimestamp: 1700000000 }, content: Buffer.from([0, 1, 2]) }],
  })
  const sqlite = new ours.SqliteEngine(join(tmp, 'user.db'))
  const r1 = await ours.migrate(user, sqlite)
  // creds, 3 keys, chat, contact, message, content, timeline entry
  assert.equal(r1.sourceCount, 9)
  const back = new MapEngine()
  const r2 = await ours.migrate(sqlite, back)
  assert.equal(r2.destinationChecksum, r1.sourceChecksum)
  assert.deepEqual([...back.map.keys()].sort(), [...user.map.keys()].sort())
  for (const [k, v] of user.map) assert.deepEqual(back.map.get(k), v, k)
  assert.deepEqual(await new ours.Store(back).content('c@g.us', 'M1'), Buffer.from([0, 1, 2]))
})
