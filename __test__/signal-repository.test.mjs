// The rest of Baileys 7's SignalRepository surface, side by side with Baileys' own on the same
// inputs: addresses, the LID mapping store, sessions kept under LID addresses, migration,
// deletion, session info; and libsignal-node's records read and written without loss.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makeAuth, party, connect, send, receive, repoOf, ours, libsignal, canonical } from './signal-util.mjs'

test('jidToSignalProtocolAddress and sender key names match Baileys', async () => {
  const auth = await makeAuth({ preKeys: 0 })
  const mine = repoOf('ours', auth)
  const theirs = repoOf('baileys', auth)
  // The same surface as Baileys' repository (a drop-in for makeWASocket's makeSignalRepository).
  assert.deepEqual(Object.keys(mine).sort(), Object.keys(theirs).sort())
  for (const k of Object.keys(theirs)) assert.equal(typeof mine[k], typeof theirs[k], k)
  assert.deepEqual(
    Object.getOwnPropertyNames(Object.getPrototypeOf(mine.lidMapping)).filter((n) => !n.startsWith('_') && n !== 'constructor' && !['remember', 'inTransaction', 'lookupLIDs', 'lookupPNs'].includes(n)).sort(),
    Object.getOwnPropertyNames(Object.getPrototypeOf(theirs.lidMapping)).filter((n) => !n.startsWith('_') && n !== 'constructor').sort(),
  )
  const jids = [
    '5511987654321@s.whatsapp.net',
    '5511987654321:0@s.whatsapp.net',
    '5511987654321:12@s.whatsapp.net',
    '123456789012345@lid',
    '123456789012345:3@lid',
    '5511987654321:99@hosted',
    '123456789012345:99@hosted.lid',
    '5511987654321_1:2@s.whatsapp.net',
    '5511987654321_128@s.whatsapp.net',
    '5511987654321@c.us',
    '1203630@g.us',
  ]
  for (const jid of jids) assert.equal(mine.jidToSignalProtocolAddress(jid), theirs.jidToSignalProtocolAddress(jid), jid)
  for (const bad of ['5511987654321:99@s.whatsapp.net', '@s.whatsapp.net', '5511.1@s.whatsapp.net']) {
    assert.throws(() => theirs.jidToSignalProtocolAddress(bad))
    assert.throws(() => mine.jidToSignalProtocolAddress(bad), { code: 'ERR_WA_SIGNAL_ADDRESS' })
  }
  // Sender key names: stored under the same key by both.
  const group = '120363040000000002@g.us'
  for (const [kind, repo] of [
    ['ours', mine],
    ['baileys', theirs],
  ]) {
    await repo.getSenderKeyDistributionMessage({ group, meId: `123456789012345:7@lid` })
    assert.ok(auth.store.raw('sender-key', `${group}::123456789012345_1::7`), kind)
    assert.equal(await repo.hasSenderKey({ group, meId: '123456789012345:7@lid' }), true)
    assert.equal(await repo.hasSenderKey({ group, meId: '123456789012345:8@lid' }), false)
    await auth.keys.set({ 'sender-key': { [`${group}::123456789012345_1::7`]: null } })
  }
})

test('the LID mapping store behaves as Baileys: same answers, same stored entries, same lookups', async () => {
  const calls = { ours: [], baileys: [] }
  const repos = {}
  const auths = {}
  for (const kind of ['ours', 'baileys']) {
    auths[kind] = await makeAuth({ preKeys: 0 })
    repos[kind] = repoOf(kind, auths[kind], async (jids) => {
      calls[kind].push(jids)
      return jids.filter((j) => j.startsWith('5599')).map((pn) => ({ pn, lid: `${pn.split('@')[0]}77@lid` }))
    })
  }
  const ops = async (r) => {
    const out = []
    await r.lidMapping.storeLIDPNMappings([
      { lid: '111@lid', pn: '5511111@s.whatsapp.net' },
      { lid: '222:3@lid', pn: '5522222:3@s.whatsapp.net' },
      { pn: '333@lid', lid: '5533333@s.whatsapp.net' }, // reversed pair, accepted
      { lid: 'bad', pn: '5544444@s.whatsapp.net' }, // refused
    ])
    out.push(await r.lidMapping.getLIDForPN('5511111@s.whatsapp.net'))
    out.push(await r.lidMapping.getLIDForPN('5511111:4@s.whatsapp.net'))
    out.push(await r.lidMapping.getLIDForPN('5511111:99@hosted'))
    out.push(await r.lidMapping.getLIDsForPNs(['5522222@s.whatsapp.net', '5599000:2@s.whatsapp.net', '123@g.us']))
    out.push(await r.lidMapping.getPNForLID('111:5@lid'))
    out.push(await r.lidMapping.getPNsForLIDs(['222@lid', '999@lid']))
    out.push(await r.lidMapping.getLIDForPN('5588888@s.whatsapp.net'))
    out.push(await r.lidMapping.getPNForLID('5599000@s.whatsapp.net'))
    return out
  }
  assert.deepEqual(await ops(repos.ours), await ops(repos.baileys))
  assert.deepEqual(calls.ours, calls.baileys)
  assert.deepEqual([...auths.ours.store.data].filter(([k]) => k.startsWith('lid-mapping')).sort(), [...auths.baileys.store.data].filter(([k]) => k.startsWith('lid-mapping')).sort())
})

test('a phone-number device with a known LID keeps its session under the LID address', async () => {
  for (const kind of ['ours', 'baileys']) {
    const a = await party(kind, '5511000000301@s.whatsapp.net')
    const b = await party('baileys', '5511000000302:2@s.whatsapp.net')
    await a.repo.lidMapping.storeLIDPNMappings([{ lid: '900000000000302@lid', pn: '5511000000302@s.whatsapp.net' }])
    await connect(a, b, 1)
    assert.ok(a.auth.store.raw('session', '900000000000302_1.2'), kind)
    assert.equal(a.auth.store.raw('session', '5511000000302.2'), undefined, kind)
    // Either JID form reaches the same session.
    const info = await a.repo.getSessionInfo('900000000000302:2@lid')
    assert.deepEqual(await a.repo.getSessionInfo(b.jid), info)
  }
})

test('migrateSession, deleteSession, validateSession and getSessionInfo match Baileys', async () => {
  const results = {}
  for (const kind of ['ours', 'baileys']) {
    const a = await party(kind, '5511000000303@s.whatsapp.net')
    const peers = []
    for (const d of [0, 1, 5]) {
      const p = await party('baileys', `5511000000304${d ? `:${d}` : ''}@s.whatsapp.net`)
      await connect(a, p, 1)
      peers.push(p)
    }
    await a.auth.keys.set({ 'device-list': { '5511000000304': ['0', '1', '5', '9'] } })
    const r = []
    r.push(await a.repo.validateSession('5511000000304:1@s.whatsapp.net'))
    r.push(await a.repo.validateSession('5511000000304:9@s.whatsapp.net'))
    r.push((await a.repo.getSessionInfo('5511000000304:9@s.whatsapp.net')) === null)
    r.push(await a.repo.migrateSession('5511000000304:1@s.whatsapp.net', '900000000000304@lid'))
    r.push(await a.repo.migrateSession('5511000000304:1@s.whatsapp.net', '900000000000304@lid'))
    r.push(await a.repo.migrateSession('900000000000304@lid', '900000000000304@lid'))
    r.push(await a.repo.migrateSession('5511000000304@s.whatsapp.net', '5511000000304@s.whatsapp.net'))
    r.push(Object.keys(Object.fromEntries(a.auth.store.data)).filter((k) => k.startsWith('session/')).sort())
    // The migrated sessions carry on under the LID addresses.
    await a.repo.lidMapping.storeLIDPNMappings([{ lid: '900000000000304@lid', pn: '5511000000304@s.whatsapp.net' }])
    const m = await send(a, peers[2], 'after migration')
    r.push(m.type)
    assert.equal(await receive(m), 'after migration')
    await a.repo.deleteSession(['900000000000304:1@lid', '900000000000304@lid'])
    r.push(Object.keys(Object.fromEntries(a.auth.store.data)).filter((k) => k.startsWith('session/')).sort())
    r.push(await a.repo.validateSession('900000000000304:1@lid'))
    results[kind] = r
  }
  assert.deepEqual(results.ours, results.baileys)
  assert.deepEqual(results.ours[3], { migrated: 3, skipped: 0, total: 3 })
})

test("libsignal-node's session records read and write back exactly, in JSON and in binary", async () => {
  // Records in every state libsignal-node produces: pending prekey, answered, closed
  // sessions, skipped keys on open and closed chains, many direction changes.
  const a = await party('baileys', '5511000000305@s.whatsapp.net')
  const b = await party('baileys', '5511000000306@s.whatsapp.net')
  const records = []
  const snap = () => {
    records.push(a.auth.store.raw('session', '5511000000306.0'))
    records.push(b.auth.store.raw('session', '5511000000305.0'))
  }
  await connect(a, b, 1)
  records.push(a.auth.store.raw('session', '5511000000306.0'))
  const held = []
  for (let i = 0; i < 20; i++) {
    const m1 = await send(a, b, `a${i}`)
    const m2 = await send(a, b, `a${i}'`)
    await receive(m2)
    held.push(m1)
    await receive(await send(b, a, `b${i}`))
    if (i % 5 === 0) snap()
  }
  await connect(a, b, 2)
  await connect(b, a, 3)
  await receive(await send(a, b, 'new'))
  snap()
  for (const m of held.slice(0, 10)) await receive(m)
  snap()
  for (const r of records) {
    assert.ok(r && r._sessions)
    const text = JSON.stringify(r)
    assert.equal(JSON.stringify(ours.sessionRecordToJson(r)), text)
    assert.equal(JSON.stringify(ours.sessionRecordToJson(JSON.stringify(r))), text)
    const bin = ours.sessionRecordToBinary(r)
    assert.ok(bin.length < text.length * 0.75, `binary ${bin.length} vs JSON ${text.length}`)
    assert.equal(JSON.stringify(ours.sessionRecordToJson(bin)), text)
    // libsignal-node's own round trip agrees.
    assert.equal(JSON.stringify(libsignal.SessionRecord.deserialize(ours.sessionRecordToJson(bin)).serialize()), text)
  }
  assert.ok(records.some((r) => Object.keys(r._sessions).length > 1))
  assert.ok(records.some((r) => Object.values(r._sessions).some((s) => s.pendingPreKey)))
  assert.ok(records.some((r) => Object.values(r._sessions).some((s) => Object.values(s._chains).some((c) => Object.keys(c.messageKeys).length))))
  assert.throws(() => ours.sessionRecordToJson({ _sessions: { x: 1 }, version: 'v1' }), { code: 'ERR_WA_SIGNAL_BAD_RECORD' })
  assert.throws(() => ours.sessionRecordToJson({ version: 'v9' }), { code: 'ERR_WA_SIGNAL_BAD_RECORD' })
})

test('our records stay bounded where libsignal-node grows', async () => {
  const sizes = {}
  for (const kind of ['ours', 'baileys']) {
    const a = await party(kind, '5511000000307@s.whatsapp.net')
    const b = await party('baileys', '5511000000308@s.whatsapp.net')
    await connect(a, b, 1)
    for (let i = 0; i < 120; i++) {
      await receive(await send(a, b, 'ping'))
      await receive(await send(b, a, 'pong'))
    }
    sizes[kind] = JSON.stringify(a.auth.store.raw('session', '5511000000308.0')).length
    // ... and everything we wrote, libsignal-node reads.
    const back = libsignal.SessionRecord.deserialize(a.auth.store.raw('session', '5511000000308.0'))
    assert.ok(back.haveOpenSession())
  }
  assert.ok(sizes.ours < 3000, `ours ${sizes.ours}`)
  assert.ok(sizes.baileys > 3 * sizes.ours, `libsignal-node ${sizes.baileys} vs ours ${sizes.ours}`)
  assert.equal(canonical(1), '1')
})
