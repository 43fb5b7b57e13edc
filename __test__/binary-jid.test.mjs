// JID helpers against Baileys' own, on many inputs (every server, devices, agents, odd strings).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as B from '@whiskeysockets/baileys'
import * as ours from '../index.mjs'
import { rng } from './fixtures/binary-corpus.mjs'

const SERVERS = ['s.whatsapp.net', 'g.us', 'broadcast', 'lid', 'hosted', 'hosted.lid', 'newsletter', 'call', 'c.us', 'bot', 'msgr', 'interop', 'x.y', '']

function inputs() {
  const r = rng(99)
  const int = (n) => Math.floor(r() * n)
  const pick = (a) => a[int(a.length)]
  const out = [undefined, null, '', '@', 'status@broadcast', '13135550002@c.us', '1316555001@c.us', '13165550012@c.us',
    '1313555123@c.us', '13135550002@s.whatsapp.net', '0@c.us', 'server@c.us', 'toString@constructor', 'a@b@c', 'abc', 123]
  for (let i = 0; i < 3000; i++) {
    const user = pick(['', String(int(1e12)), `1313555${String(int(1e4)).padStart(4, '0')}`, `131655500${String(int(100)).padStart(2, '0')}`, 'status', 'abc'])
    const agent = pick(['', '', `_${int(300)}`, '_x', '_'])
    const device = pick(['', '', `:${int(300)}`, ':0', ':', ':x', ':1:2'])
    out.push(`${user}${agent}${device}@${pick(SERVERS)}`)
    out.push(String.fromCharCode(...Array.from({ length: int(12) }, () => pick([48, 49, 58, 64, 95, 97, 46, 45]))))
  }
  return out
}

const UNARY = ['jidDecode', 'jidNormalizedUser', 'isJidGroup', 'isJidBroadcast', 'isJidStatusBroadcast', 'isJidNewsletter',
  'isLidUser', 'isPnUser', 'isHostedPnUser', 'isHostedLidUser', 'isJidBot', 'isJidMetaAI']

test('unary JID helpers return exactly what Baileys returns', () => {
  const all = inputs()
  for (const name of UNARY) {
    assert.equal(typeof ours[name], 'function', name)
    for (const jid of all) {
      let theirs, mine
      try { theirs = { v: B[name](jid) } } catch (e) { theirs = { e: e.constructor.name } }
      try { mine = { v: ours[name](jid) } } catch (e) { mine = { e: e.constructor.name } }
      assert.deepStrictEqual(mine, theirs, `${name}(${JSON.stringify(jid)})`)
    }
  }
})

test('binary JID helpers (areJidsSameUser, transferDevice, jidEncode) match Baileys', () => {
  const all = inputs().filter((x) => typeof x === 'string').slice(0, 800)
  const r = rng(5)
  for (let i = 0; i < 3000; i++) {
    const a = all[Math.floor(r() * all.length)]
    const b = all[Math.floor(r() * all.length)]
    assert.equal(ours.areJidsSameUser(a, b), B.areJidsSameUser(a, b), `${a} ${b}`)
    let theirs, mine
    try { theirs = B.transferDevice(a, b) } catch (e) { theirs = e.constructor.name }
    try { mine = ours.transferDevice(a, b) } catch (e) { mine = e.constructor.name }
    assert.equal(mine, theirs, `transferDevice(${a}, ${b})`)
  }
  for (const user of ['123', '', null, undefined, 0, 77]) {
    for (const server of SERVERS) {
      for (const device of [undefined, 0, 1, 99]) {
        for (const agent of [undefined, 0, 1, 5]) {
          assert.equal(ours.jidEncode(user, server, device, agent), B.jidEncode(user, server, device, agent))
        }
      }
    }
  }
})

test('constants and domains match Baileys', () => {
  for (const name of ['S_WHATSAPP_NET', 'OFFICIAL_BIZ_JID', 'SERVER_JID', 'PSA_WID', 'STORIES_JID', 'META_AI_JID']) {
    assert.equal(ours[name], B[name], name)
  }
  assert.deepStrictEqual({ ...ours.WAJIDDomains }, { ...B.WAJIDDomains })
  for (const d of [0, 1, 128, 129, 7, undefined]) {
    assert.equal(ours.getServerFromDomainType('s.whatsapp.net', d), B.getServerFromDomainType('s.whatsapp.net', d))
  }
})

test('JIDs decoded from the wire round-trip through the helpers as in Baileys', async () => {
  // AD_JID for every domain type, as the server sends device JIDs.
  for (const [domain, device] of [[0, 0], [0, 3], [1, 0], [1, 12], [128, 2], [129, 9], [77, 4]]) {
    const frame = Buffer.from([0, 248, 3, 3, 0x08, 247, domain, device, 252, 3, 0x31, 0x32, 0x33])
    const mine = await ours.decodeBinaryNode(frame)
    const theirs = await B.decodeBinaryNode(frame)
    assert.deepStrictEqual(mine, theirs)
    const jid = Object.values(mine.attrs)[0]
    assert.deepStrictEqual(ours.jidDecode(jid), B.jidDecode(jid))
    assert.equal(ours.jidNormalizedUser(jid), B.jidNormalizedUser(jid))
  }
})
