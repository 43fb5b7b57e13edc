// USync and WAM against Baileys 7: the protocols' query and user elements, the usync <iq> a
// socket sends (encoded, byte for byte), result parsing; WAM buffers byte for byte over
// random events of the real event table, and the quirks of its flags.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as B from '@whiskeysockets/baileys'
import * as O from '../index.mjs'
import { rng } from './fixtures/binary-corpus.mjs'

const require = createRequire(import.meta.url)
const { usyncQueryNode, USyncBotProfileProtocol, USyncLIDProtocol } = require('../lib/usync.js')

// Baileys' socket assembles this <iq> in executeUSyncQuery (Socket/socket.js) from the same
// protocol elements; written out here from that function so the two can be encoded side by side.
function baileysIq(q, sid) {
  const users = q.users.map((user) => ({ tag: 'user', attrs: { jid: !user.phone ? user.id : undefined }, content: q.protocols.map((a) => a.getUserElement(user)).filter((a) => a !== null) }))
  return { tag: 'iq', attrs: { to: B.S_WHATSAPP_NET, type: 'get', xmlns: 'usync' }, content: [{ tag: 'usync', attrs: { context: q.context, mode: q.mode, sid, last: 'true', index: '0' }, content: [{ tag: 'query', attrs: {}, content: q.protocols.map((a) => a.getQueryElement()) }, { tag: 'list', attrs: {}, content: users }] }] }
}

function build(lib, ctx) {
  const q = new lib.USyncQuery().withContext(ctx).withMode('query')
  q.withDeviceProtocol().withContactProtocol().withStatusProtocol().withDisappearingModeProtocol().withLIDProtocol().withBotProfileProtocol().withUsernameProtocol()
  q.withUser(new lib.USyncUser().withId('1@s.whatsapp.net').withLid('9@lid'))
  q.withUser(new lib.USyncUser().withPhone('+15551234567'))
  q.withUser(new lib.USyncUser().withUsername('ana').withUsernameKey('1234').withLid('8@lid'))
  q.withUser(new lib.USyncUser().withId('2@s.whatsapp.net').withType('business').withPersonaId('p1'))
  return q
}

test('USync query nodes are byte-equal with Baileys\'', () => {
  for (const ctx of ['interactive', 'message', 'background']) {
    const ours = build(O, ctx)
    const theirs = build(B, ctx)
    assert.deepEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)))
    const a = O.encodeBinaryNode(usyncQueryNode(ours, '123.456-7'))
    const b = B.encodeBinaryNode(baileysIq(theirs, '123.456-7'))
    assert.equal(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'), ctx)
  }
  assert.equal(typeof USyncBotProfileProtocol, 'function')
  assert.equal(typeof USyncLIDProtocol, 'function')
})

test('USync results parse as Baileys parses them', () => {
  const result = {
    tag: 'iq', attrs: { type: 'result' },
    content: [{ tag: 'usync', attrs: {}, content: [{ tag: 'list', attrs: {}, content: [
      { tag: 'user', attrs: { jid: '1@s.whatsapp.net' }, content: [
        { tag: 'devices', attrs: {}, content: [
          { tag: 'device-list', attrs: {}, content: [{ tag: 'device', attrs: { id: '0', 'key-index': '1' } }, { tag: 'device', attrs: { id: '3', 'key-index': '2', is_hosted: 'true' } }] },
          { tag: 'key-index-list', attrs: { ts: '1700000000', expected_ts: '1700000100' }, content: Buffer.from([1, 2]) }] },
        { tag: 'contact', attrs: { type: 'in' } },
        { tag: 'status', attrs: { t: '1700000000' }, content: Buffer.from('busy') },
        { tag: 'disappearing_mode', attrs: { duration: '86400', t: '1700000000' } },
        { tag: 'lid', attrs: { val: '9@lid' } },
        { tag: 'username', attrs: {}, content: 'ana' },
        { tag: 'unknown', attrs: {} }] },
      { tag: 'user', attrs: { jid: '2@s.whatsapp.net' }, content: [{ tag: 'contact', attrs: { type: 'out' } }, { tag: 'status', attrs: { code: '401' } }] },
      { tag: 'user', attrs: {} }] }] }],
  }
  const ours = build(O, 'interactive').parseUSyncQueryResult(result)
  const theirs = build(B, 'interactive').parseUSyncQueryResult(result)
  assert.deepEqual(ours, theirs)
  assert.equal(ours.list.length, 2)
  assert.equal(build(O, 'x').parseUSyncQueryResult({ tag: 'iq', attrs: { type: 'error' } }), undefined)
  assert.throws(() => build(O, 'x').parseUSyncQueryResult({ tag: 'iq', attrs: { type: 'result' }, content: [{ tag: 'usync', attrs: {}, content: [{ tag: 'list', attrs: {}, content: [{ tag: 'user', attrs: { jid: '1@s.whatsapp.net' }, content: [{ tag: 'contact', attrs: {}, content: [{ tag: 'error', attrs: { code: '500', text: 'x' } }] }] }] }] }] }))
})

function sampleValue(r, type) {
  if (type === 'integer' || type === 'timer') return [0, 1, -5, 200, -40000, 70000, 2 ** 40, -(2 ** 33)][Math.floor(r() * 8)]
  if (type === 'number') return [0.5, -3.25, 1e10 + 0.5][Math.floor(r() * 3)]
  if (type === 'boolean') return r() < 0.5
  if (type === 'string') return ['', 'abc', 'ç'.repeat(200), 'x'.repeat(70000)][Math.floor(r() * 4)]
  if (type && typeof type === 'object') return Object.values(type)[0]
  return 1
}

test('WAM buffers are byte-equal with Baileys\' over random events of the real tables', () => {
  const r = rng(42)
  const globals = B.WEB_GLOBALS.filter((g) => g?.name && typeof g.type === 'string' && g.type !== 'string')
  let cases = 0
  for (let i = 0; i < 400; i++) {
    const events = []
    for (let e = 0; e < 1 + Math.floor(r() * 3); e++) {
      const def = B.WEB_EVENTS[Math.floor(r() * B.WEB_EVENTS.length)]
      const props = {}
      for (const [name, [, type]] of Object.entries(def.props)) if (r() < 0.6) props[name] = sampleValue(r, type)
      if (!Object.keys(props).length) continue
      const g = {}
      for (let k = 0; k < Math.floor(r() * 3); k++) {
        const def2 = globals[Math.floor(r() * globals.length)]
        g[def2.name] = r() < 0.2 ? null : sampleValue(r, def2.type)
      }
      events.push({ [def.name]: { props, globals: g } })
    }
    const opts = { sequence: Math.floor(r() * 65536), events }
    const a = O.encodeWAM(new O.BinaryInfo(structuredClone(opts)))
    const b = B.encodeWAM(new B.BinaryInfo(structuredClone(opts)))
    assert.equal(a.toString('hex'), b.toString('hex'), `case ${i}`)
    cases++
  }
  console.log(`wam: ${cases} buffers byte-equal`)
  // an event field without a value cannot be encoded, on both sides
  const bad = { events: [{ WamDroppedEvent: { props: { droppedEventCode: null }, globals: {} } }] }
  assert.throws(() => B.encodeWAM(new B.BinaryInfo(structuredClone(bad))))
  assert.throws(() => O.encodeWAM(new O.BinaryInfo(structuredClone(bad))))
  assert.deepEqual({ ...new O.BinaryInfo({ sequence: 3 }) }, { ...new B.BinaryInfo({ sequence: 3 }) })
})
