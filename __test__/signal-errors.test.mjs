// Hostile and broken input: every failure is a typed error with a stable code naming the
// Signal address, the stored session is untouched, and later valid messages still decrypt.
// Also: operations on one address never interleave, and a failing key store is survived.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { party, connect, send, receive, bundleOf, libsignal, jsonKeyStore, ours } from './signal-util.mjs'

const seen = new Set()

async function rejectsWith(promise, code, address) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `${e.code}: ${e.message}`)
    if (address) assert.equal(e.address, address)
    seen.add(code)
    return true
  })
}

// An established conversation: b (Baileys) -> a (ours), answered once.
async function established() {
  const a = await party('ours', '5511000000201@s.whatsapp.net')
  const b = await party('baileys', '5511000000202@s.whatsapp.net')
  await connect(b, a, 1)
  const m = await send(b, a, 'hello')
  assert.equal(await receive(m), 'hello')
  const r = await send(a, b, 'hi')
  assert.equal(await receive(r), 'hi')
  return { a, b, addr: '5511000000202.0' }
}

function flip(buf, i) {
  const out = Buffer.from(buf)
  out[(i + out.length) % out.length] ^= 1
  return out
}

// Re-encodes a ratchet message with another counter (its MAC no longer fits).
function withCounter(ciphertext, counter) {
  const { WhisperMessage } = require('libsignal/src/protobufs.js')
  const body = WhisperMessage.decode(ciphertext.subarray(1, -8))
  body.counter = counter
  return Buffer.concat([ciphertext.subarray(0, 1), Buffer.from(WhisperMessage.encode(body).finish()), ciphertext.subarray(-8)])
}
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)

// A prekey message whose inner ratchet message has one MAC bit flipped.
function innerFlipped(ciphertext) {
  const { PreKeyWhisperMessage } = require('libsignal/src/protobufs.js')
  const m = PreKeyWhisperMessage.decode(ciphertext.subarray(1))
  m.message = flip(m.message, -1)
  return Buffer.concat([ciphertext.subarray(0, 1), Buffer.from(PreKeyWhisperMessage.encode(m).finish())])
}

test('broken 1:1 messages: typed, named, and the session survives', async () => {
  const { a, b, addr } = await established()
  const good = await send(b, a, 'good')
  assert.equal(good.type, 'msg')
  const before = a.auth.store.snapshot()
  const attempt = (ciphertext, type = 'msg') => a.repo.decryptMessage({ jid: b.jid, type, ciphertext })
  await rejectsWith(attempt(flip(good.ciphertext, -1)), 'ERR_WA_SIGNAL_BAD_MAC', addr)
  await rejectsWith(attempt(flip(good.ciphertext, -12)), 'ERR_WA_SIGNAL_BAD_MAC', addr)
  await rejectsWith(attempt(good.ciphertext.subarray(0, 5)), 'ERR_WA_SIGNAL_INVALID_MESSAGE', addr)
  await rejectsWith(attempt(good.ciphertext.subarray(0, 30)), 'ERR_WA_SIGNAL_INVALID_MESSAGE', addr)
  await rejectsWith(attempt(Buffer.alloc(0)), 'ERR_WA_SIGNAL_INVALID_MESSAGE', addr)
  await rejectsWith(attempt(Buffer.concat([Buffer.from([0x43]), good.ciphertext.subarray(1)])), 'ERR_WA_SIGNAL_VERSION', addr)
  await rejectsWith(attempt(Buffer.concat([Buffer.from([0x22]), good.ciphertext.subarray(1)])), 'ERR_WA_SIGNAL_VERSION', addr)
  await rejectsWith(attempt(good.ciphertext, 'pkmsg'), 'ERR_WA_SIGNAL_INVALID_MESSAGE', addr)
  await rejectsWith(attempt(withCounter(good.ciphertext, 5000)), 'ERR_WA_SIGNAL_FUTURE_LIMIT', addr)
  await rejectsWith(attempt(good.ciphertext, 'skmsg'), 'ERR_WA_SIGNAL_ARGUMENT')
  assert.deepEqual(a.auth.store.snapshot(), before, 'failed attempts write nothing')
  assert.equal(await receive(good), 'good')
  // A replay: Baileys' socket recognises duplicates by libsignal's exact text.
  await assert.rejects(attempt(good.ciphertext), (e) => {
    assert.equal(e.code, 'ERR_WA_SIGNAL_DUPLICATE')
    assert.equal(e.message, 'Key used already or never filled')
    assert.match(e.detail, /5511000000202\.0/)
    seen.add(e.code)
    return true
  })
  // And the conversation goes on.
  for (let i = 0; i < 3; i++) {
    assert.equal(await receive(await send(b, a, `b${i}`)), `b${i}`)
    assert.equal(await receive(await send(a, b, `a${i}`)), `a${i}`)
  }
})

test('a message for a closed chain, and one from nobody we know', async () => {
  const { a, b, addr } = await established()
  const m1 = await send(b, a, 'one')
  const m2 = await send(b, a, 'two')
  assert.equal(await receive(m2), 'two') // m1's key is kept
  assert.equal(await receive(await send(a, b, 'step')), 'step')
  assert.equal(await receive(await send(b, a, 'new chain')), 'new chain') // closes m1's chain
  await rejectsWith(a.repo.decryptMessage({ jid: b.jid, type: 'msg', ciphertext: withCounter(m2.ciphertext, 9) }), 'ERR_WA_SIGNAL_CHAIN_CLOSED', addr)
  assert.equal(await receive(m1), 'one')
  await assert.rejects(
    a.repo.decryptMessage({ jid: '5511000000299@s.whatsapp.net', type: 'msg', ciphertext: m1.ciphertext }),
    (e) => {
      assert.equal(e.code, 'ERR_WA_SIGNAL_NO_SESSION')
      assert.equal(e.address, '5511000000299.0')
      // Baileys' socket looks for this text to decide on retries.
      assert.match(e.message, /No session record/)
      seen.add(e.code)
      return true
    },
  )
  await rejectsWith(a.repo.encryptMessage({ jid: '5511000000299@s.whatsapp.net', data: Buffer.from('x') }), 'ERR_WA_SIGNAL_NO_SESSION', '5511000000299.0')
  await rejectsWith(a.repo.encryptMessage({ jid: 'not-a-jid', data: Buffer.from('x') }), 'ERR_WA_SIGNAL_ADDRESS', 'not-a-jid')
})

test('prekey messages naming keys we do not have', async () => {
  const a = await party('ours', '5511000000203@s.whatsapp.net')
  const b = await party('baileys', '5511000000204@s.whatsapp.net')
  await connect(b, a, 4)
  await a.auth.keys.set({ 'pre-key': { 4: null } })
  const m = await send(b, a, 'lost')
  const before = a.auth.store.snapshot()
  await rejectsWith(receive(m), 'ERR_WA_SIGNAL_NO_PREKEY', '5511000000204.0')
  assert.deepEqual(a.auth.store.snapshot(), before)
  // No signed prekey in the creds (an unregistered device).
  const bundle = await bundleOf(a.auth, 2)
  const signed = a.auth.creds.signedPreKey
  delete a.auth.creds.signedPreKey
  await b.repo.injectE2ESession({ jid: a.jid, session: bundle })
  const m2 = await send(b, a, 'no signed prekey')
  await rejectsWith(receive(m2), 'ERR_WA_SIGNAL_NO_SIGNED_PREKEY', '5511000000204.0')
  a.auth.creds.signedPreKey = signed
  // Truncated or garbled prekey messages.
  await rejectsWith(receive({ ...m2, ciphertext: m2.ciphertext.subarray(0, 20) }), 'ERR_WA_SIGNAL_INVALID_MESSAGE', '5511000000204.0')
  await rejectsWith(receive({ ...m2, ciphertext: innerFlipped(m2.ciphertext) }), 'ERR_WA_SIGNAL_BAD_MAC', '5511000000204.0')
  await rejectsWith(receive({ ...m2, ciphertext: Buffer.concat([Buffer.from([0x53]), m2.ciphertext.subarray(1)]) }), 'ERR_WA_SIGNAL_VERSION')
  assert.deepEqual(a.auth.store.snapshot(), before)
  // The same message reads once the keys are there, and the peer's answer too.
  assert.equal(await receive(m2), 'no signed prekey')
  assert.equal(await receive(await send(a, b, 'answer')), 'answer')
})

test('an unreadable stored record: typed on use, healed by the next prekey message', async () => {
  const { a, b, addr } = await established()
  await a.auth.keys.set({ session: { [addr]: { _sessions: { '!!': {} }, version: 'v1' } } })
  await rejectsWith(a.repo.encryptMessage({ jid: b.jid, data: Buffer.from('x') }), 'ERR_WA_SIGNAL_BAD_RECORD', addr)
  assert.deepEqual(await a.repo.validateSession(b.jid), { exists: false, reason: 'no session' })
  assert.equal(await a.repo.getSessionInfo(b.jid), null)
  await connect(b, a, 3)
  assert.equal(await receive(await send(b, a, 'fresh start')), 'fresh start')
  assert.equal(await receive(await send(a, b, 'works')), 'works')
})

test('every error code reachable from the 1:1 API was seen', () => {
  for (const code of [
    'ERR_WA_SIGNAL_BAD_MAC',
    'ERR_WA_SIGNAL_INVALID_MESSAGE',
    'ERR_WA_SIGNAL_VERSION',
    'ERR_WA_SIGNAL_FUTURE_LIMIT',
    'ERR_WA_SIGNAL_DUPLICATE',
    'ERR_WA_SIGNAL_CHAIN_CLOSED',
    'ERR_WA_SIGNAL_NO_SESSION',
    'ERR_WA_SIGNAL_NO_PREKEY',
    'ERR_WA_SIGNAL_NO_SIGNED_PREKEY',
    'ERR_WA_SIGNAL_BAD_RECORD',
    'ERR_WA_SIGNAL_ADDRESS',
    'ERR_WA_SIGNAL_ARGUMENT',
  ]) {
    assert.ok(seen.has(code), code)
  }
})

test('operations on one address never interleave, even with a slow asynchronous store', async () => {
  const a = await party('ours', '5511000000205@s.whatsapp.net', { delay: 3 })
  const b = await party('baileys', '5511000000206@s.whatsapp.net')
  // The bare store, without Baileys' transactions (whose per-JID mutex would serialise too):
  // only our per-address queue stands between concurrent calls.
  a.repo = ours.makeLibSignalRepository({ creds: a.auth.creds, keys: a.auth.store })
  await connect(a, b, 1)
  // Thirty concurrent encryptions: each must see the previous one's record.
  const out = await Promise.all(
    Array.from({ length: 30 }, (_, i) => a.repo.encryptMessage({ jid: b.jid, data: Buffer.from(`c${i}`) })),
  )
  const { PreKeyWhisperMessage, WhisperMessage } = require('libsignal/src/protobufs.js')
  const counters = out.map((m) => {
    const inner = PreKeyWhisperMessage.decode(Buffer.from(m.ciphertext).subarray(1)).message
    return WhisperMessage.decode(inner.subarray(1, -8)).counter
  })
  assert.deepEqual([...counters].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i))
  for (const [i, m] of out.entries()) {
    const plain = await b.repo.decryptMessage({ jid: a.jid, type: m.type, ciphertext: m.ciphertext })
    assert.equal(Buffer.from(plain).toString(), `c${i}`)
  }
  // Thirty concurrent decryptions of out-of-order messages.
  const msgs = []
  for (let i = 0; i < 30; i++) msgs.push(await send(b, a, `d${i}`))
  msgs.reverse()
  const texts = await Promise.all(msgs.map((m) => receive(m)))
  assert.deepEqual(texts, msgs.map((m) => m.text))
  const rec = a.auth.store.raw('session', '5511000000206.0')
  const keysLeft = Object.values(rec._sessions).flatMap((s) => Object.values(s._chains)).reduce((n, c) => n + Object.keys(c.messageKeys).length, 0)
  assert.equal(keysLeft, 0)
})

test('a key store that throws or rejects: the error surfaces, nothing half-written', async () => {
  const a = await party('ours', '5511000000207@s.whatsapp.net')
  const b = await party('baileys', '5511000000208@s.whatsapp.net')
  await connect(b, a, 1)
  const m = await send(b, a, 'first')
  // A plain store without transactions, whose writes fail once and whose reads fail once.
  const inner = jsonKeyStore()
  for (const [k, v] of a.auth.store.data) inner.data.set(k, v)
  let failSet = true
  let failGet = true
  const flaky = {
    get(type, ids) {
      if (failGet) {
        failGet = false
        throw new Error('disk on fire')
      }
      return inner.get(type, ids)
    },
    async set(data) {
      if (failSet) {
        failSet = false
        throw new Error('disk full')
      }
      return inner.set(data)
    },
  }
  const repo = (await import('./signal-util.mjs')).ours.makeLibSignalRepository({ creds: a.auth.creds, keys: flaky })
  const before = inner.snapshot()
  await assert.rejects(repo.decryptMessage({ jid: b.jid, type: m.type, ciphertext: m.ciphertext }), /disk on fire/)
  await assert.rejects(repo.decryptMessage({ jid: b.jid, type: m.type, ciphertext: m.ciphertext }), /disk full/)
  assert.deepEqual(inner.snapshot(), before)
  const plain = await repo.decryptMessage({ jid: b.jid, type: m.type, ciphertext: m.ciphertext })
  assert.equal(Buffer.from(plain).toString(), 'first')
  // A synchronous store (plain return values, no promises) works as well.
  const syncStore = {
    get: (type, ids) => Object.fromEntries(ids.map((id) => [id, inner.raw(type, id)]).filter(([, v]) => v !== undefined)),
    set: (data) => {
      inner.set(data)
    },
  }
  const repo2 = (await import('./signal-util.mjs')).ours.makeLibSignalRepository({ creds: a.auth.creds, keys: syncStore })
  const out = await repo2.encryptMessage({ jid: b.jid, data: Buffer.from('sync') })
  await new Promise((r) => setImmediate(r))
  const plain2 = await b.repo.decryptMessage({ jid: a.jid, type: out.type, ciphertext: out.ciphertext })
  assert.equal(Buffer.from(plain2).toString(), 'sync')
  assert.equal(typeof libsignal.SessionCipher, 'function')
})

test("inside a caller's transaction (as Baileys' relayMessage runs) concurrent calls do not deadlock", async () => {
  const { a, b } = await established()
  const m = await send(b, a, 'concurrent')
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('deadlock: the calls never finished')), 5000)
  })
  // The caller holds the transaction for b's JID and encrypts inside it, while a decryption
  // for the same address arrives from outside.
  const outer = a.auth.keys.transaction(async () => {
    await new Promise((r) => setTimeout(r, 30))
    return a.repo.encryptMessage({ jid: b.jid, data: Buffer.from('inside') })
  }, b.jid)
  await new Promise((r) => setTimeout(r, 5))
  const inner = a.repo.decryptMessage({ jid: b.jid, type: m.type, ciphertext: m.ciphertext })
  try {
    const [sent, plain] = await Promise.race([Promise.all([outer, inner]), deadline])
    assert.equal(Buffer.from(plain).toString(), 'concurrent')
    const back = await b.repo.decryptMessage({ jid: a.jid, type: sent.type, ciphertext: sent.ciphertext })
    assert.equal(Buffer.from(back).toString(), 'inside')
  } finally {
    clearTimeout(timer)
  }
})
