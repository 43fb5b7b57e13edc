// makeLibSignalRepository over a JavaScript key store (`{ get, set }`): the store I/O of an
// operation runs on the calling thread (lib/signal.js `drive`), the Signal step natively in
// between. What that path must keep: call-order locking per address (also when the session
// moves to a LID found in the store), one read per key type and one write per operation, and
// nothing applied when the store fails.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { bundleOf, jsonKeyStore, makeAuth, makeBaileysRepository, ours, party, silent } from './signal-util.mjs'

const require = createRequire(import.meta.url)
const { PreKeyWhisperMessage, WhisperMessage } = require('libsignal/src/protobufs.js')

// The chain counter of an encrypted 1:1 message.
function counterOf({ type, ciphertext }) {
  let body = Buffer.from(ciphertext)
  if (type === 'pkmsg') body = PreKeyWhisperMessage.decode(body.subarray(1)).message
  return WhisperMessage.decode(body.subarray(1, -8)).counter
}

// A plain store (no transactions: only the repository's own locks serialise) that logs calls.
function loggedStore(inner, log) {
  return {
    get(type, ids) {
      log.push(['get', type, [...ids]])
      return inner.get(type, ids)
    },
    set(data) {
      log.push(['set', Object.keys(data).sort()])
      return inner.set(data)
    },
  }
}

// Our repository over a plain logged JS store holding a copy of `auth`'s keys.
function oursOver(auth, log = [], wrap = (s) => s) {
  const inner = jsonKeyStore()
  for (const [k, v] of auth.store.data) inner.data.set(k, v)
  const keys = wrap(loggedStore(inner, log))
  return { inner, log, repo: ours.makeLibSignalRepository({ creds: auth.creds, keys }, silent) }
}

test('over a JavaScript store the reads start before the call returns: one get per key type, one set', async () => {
  const a = await party('ours', '5511000000401@s.whatsapp.net')
  const b = await party('baileys', '5511000000402@s.whatsapp.net')
  const { repo, log } = oursOver(a.auth)
  await repo.injectE2ESession({ jid: b.jid, session: await bundleOf(b.auth, 1) })
  log.length = 0
  const pending = repo.encryptMessage({ jid: b.jid, data: Buffer.from('one') })
  // Synchronously, within the call: the session under the phone-number address and, since no
  // LID is known for it, the mapping, each with one get.
  assert.deepEqual(log, [
    ['get', 'session', ['5511000000402.0']],
    ['get', 'lid-mapping', ['5511000000402']],
  ])
  const m = await pending
  assert.deepEqual(log.slice(2), [['set', ['session']]])
  assert.equal(Buffer.from(await b.repo.decryptMessage({ jid: a.jid, type: m.type, ciphertext: m.ciphertext })).toString(), 'one')
  // A reply (prekey already used): one read round, one write of the session only.
  const reply = await b.repo.encryptMessage({ jid: a.jid, data: Buffer.from('two') })
  log.length = 0
  const plain = await repo.decryptMessage({ jid: b.jid, type: reply.type, ciphertext: reply.ciphertext })
  assert.equal(Buffer.from(plain).toString(), 'two')
  assert.deepEqual(log, [
    ['get', 'session', ['5511000000402.0']],
    ['get', 'lid-mapping', ['5511000000402']],
    ['set', ['session']],
  ])
})

test('a store whose set() fails: that call is rejected with a code, nothing applied, the next calls go on', async () => {
  const a = await party('ours', '5511000000403@s.whatsapp.net')
  const b = await party('baileys', '5511000000404@s.whatsapp.net')
  let sets = 0
  const { repo, inner } = oursOver(a.auth, [], (s) => ({
    get: s.get,
    async set(data) {
      if (++sets === 3) throw new Error('disk full')
      return s.set(data)
    },
  }))
  await repo.injectE2ESession({ jid: b.jid, session: await bundleOf(b.auth, 1) }) // set 1
  const before = inner.snapshot()
  // Three concurrent calls on one address: the second one's write (set 3) fails.
  const results = await Promise.allSettled(['x', 'y', 'z'].map((t) => repo.encryptMessage({ jid: b.jid, data: Buffer.from(t) })))
  assert.equal(results[0].status, 'fulfilled')
  assert.equal(results[1].status, 'rejected')
  assert.equal(results[1].reason.code, 'ERR_WA_STORE_ENGINE')
  assert.match(results[1].reason.message, /set failed in the JavaScript engine: disk full/)
  assert.equal(results[2].status, 'fulfilled')
  // The failed call left the session as the first call wrote it: the third took the next counter.
  assert.deepEqual([counterOf(results[0].value), counterOf(results[2].value)], [0, 1])
  assert.notDeepEqual(inner.snapshot(), before)
  for (const [r, text] of [
    [results[0], 'x'],
    [results[2], 'z'],
  ]) {
    const plain = await b.repo.decryptMessage({ jid: a.jid, type: r.value.type, ciphertext: r.value.ciphertext })
    assert.equal(Buffer.from(plain).toString(), text)
  }
  // A read that fails and a read that answers nonsense: coded, the lock released each time.
  let getMode = 'throw'
  const flaky = oursOver({ creds: a.auth.creds, store: inner }, [], (s) => ({
    get(type, ids) {
      if (getMode === 'throw') throw new Error('disk on fire')
      if (getMode === 'junk') return 42
      return s.get(type, ids)
    },
    set: s.set,
  }))
  await assert.rejects(flaky.repo.encryptMessage({ jid: b.jid, data: Buffer.from('w') }), { code: 'ERR_WA_STORE_ENGINE', message: /disk on fire/ })
  getMode = 'junk'
  await assert.rejects(flaky.repo.encryptMessage({ jid: b.jid, data: Buffer.from('w') }), { code: 'ERR_WA_STORE_ENGINE_RESULT' })
  getMode = 'ok'
  const ok = await flaky.repo.encryptMessage({ jid: b.jid, data: Buffer.from('w') })
  assert.equal(Buffer.from(await b.repo.decryptMessage({ jid: a.jid, type: ok.type, ciphertext: ok.ciphertext })).toString(), 'w')
})

test('a LID only the store knows: concurrent calls by phone number and by LID share one session, in call order', async () => {
  const a = await party('ours', '5511000000405@s.whatsapp.net')
  const b = await party('baileys', '5511000000406:3@s.whatsapp.net')
  const lid = '900000000000406'
  // Baileys writes the mapping into a's store; our repository (made after) has not seen it.
  await makeBaileysRepository(a.auth, silent).lidMapping.storeLIDPNMappings([{ lid: `${lid}@lid`, pn: '5511000000406@s.whatsapp.net' }])
  const { repo, inner, log } = oursOver(a.auth)
  const pn = b.jid
  const byLid = `${lid}:3@lid`
  await repo.injectE2ESession({ jid: pn, session: await bundleOf(b.auth, 1) })
  assert.ok(inner.raw('session', `${lid}_1.3`))
  assert.equal(inner.raw('session', '5511000000406.3'), undefined)
  // The first call read the phone-number address with the mapping, then the LID's session.
  assert.deepEqual(log.slice(0, 3), [
    ['get', 'session', ['5511000000406.3']],
    ['get', 'identity-key', ['5511000000406.3']],
    ['get', 'lid-mapping', ['5511000000406']],
  ])
  assert.deepEqual(log[3], ['get', 'session', [`${lid}_1.3`]])
  const out = await Promise.all(Array.from({ length: 20 }, (_, i) => repo.encryptMessage({ jid: i % 2 ? byLid : pn, data: Buffer.from(`m${i}`) })))
  assert.deepEqual(
    out.map(counterOf),
    Array.from({ length: 20 }, (_, i) => i),
  )
  for (const [i, m] of out.entries()) {
    const plain = await b.repo.decryptMessage({ jid: a.jid, type: m.type, ciphertext: m.ciphertext })
    assert.equal(Buffer.from(plain).toString(), `m${i}`)
  }
  assert.equal(inner.raw('session', '5511000000406.3'), undefined)
})

test("with pnToLIDFunc, an unknown phone number is looked up before the call's reads", async () => {
  const me = '5511000000407@s.whatsapp.net'
  const b = await party('baileys', '5511000000408@s.whatsapp.net')
  const asked = []
  const lookup = async (jids) => {
    asked.push(jids)
    return jids.map((pn) => ({ pn, lid: `${pn.split('@')[0].replace(/^5511/, '9000')}@lid` }))
  }
  const auth = await makeAuth()
  const repo = ours.makeLibSignalRepository({ creds: auth.creds, keys: auth.store }, silent, lookup)
  await repo.injectE2ESession({ jid: b.jid, session: await bundleOf(b.auth, 1) })
  assert.deepEqual(asked, [['5511000000408@s.whatsapp.net']])
  assert.ok(auth.store.raw('session', '9000000000408_1.0'))
  assert.equal(auth.store.raw('lid-mapping', '5511000000408'), '9000000000408')
  const m = await repo.encryptMessage({ jid: b.jid, data: Buffer.from('hello') })
  assert.equal(asked.length, 1)
  const plain = await b.repo.decryptMessage({ jid: me, type: m.type, ciphertext: m.ciphertext })
  assert.equal(Buffer.from(plain).toString(), 'hello')
})

test('group calls over a JavaScript store: concurrent encryptions stay in order and Baileys reads them all', async () => {
  const GROUP = '120363040000000409@g.us'
  const a = await party('ours', '5511000000409@s.whatsapp.net')
  const r = await party('baileys', '5511000000410@s.whatsapp.net')
  const { repo, log } = oursOver(a.auth)
  const skdm = await repo.getSenderKeyDistributionMessage({ group: GROUP, meId: a.jid })
  await r.repo.processSenderKeyDistributionMessage({ item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: skdm }, authorJid: a.jid })
  assert.equal(await repo.hasSenderKey({ group: GROUP, meId: a.jid }), true)
  log.length = 0
  const sent = await Promise.all(Array.from({ length: 15 }, (_, i) => repo.encryptGroupMessage({ group: GROUP, meId: a.jid, data: Buffer.from(`g${i}`) })))
  assert.equal(log.filter(([op]) => op === 'get').length, 15)
  assert.equal(log.filter(([op]) => op === 'set').length, 15)
  for (const [i, s] of sent.entries()) {
    const plain = await r.repo.decryptGroupMessage({ group: GROUP, authorJid: a.jid, msg: s.ciphertext })
    assert.equal(Buffer.from(plain).toString(), `g${i}`)
  }
  // And back: our reader over a JS store takes Baileys' distribution and decrypts in order.
  const theirs = await r.repo.getSenderKeyDistributionMessage({ group: GROUP, meId: r.jid })
  const reader = oursOver(a.auth)
  await reader.repo.processSenderKeyDistributionMessage({ item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: theirs }, authorJid: r.jid })
  const msgs = []
  for (let i = 0; i < 5; i++) msgs.push((await r.repo.encryptGroupMessage({ group: GROUP, meId: r.jid, data: Buffer.from(`b${i}`) })).ciphertext)
  const texts = await Promise.all(msgs.map((msg) => reader.repo.decryptGroupMessage({ group: GROUP, authorJid: r.jid, msg })))
  assert.deepEqual(texts.map((t) => Buffer.from(t).toString()), ['b0', 'b1', 'b2', 'b3', 'b4'])
})
