// Group messages with sender keys against Baileys 7's repository: distribution both ways,
// 500 messages each way, out-of-order delivery on our side (Baileys rc14 cannot read out of
// order, so it is fed in order), records read and written in Baileys' format.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv } from 'node:crypto'
import { party, repoOf, rng, shuffle, ours, canonical, libsignal, baileys } from './signal-util.mjs'
import { SenderKeyRecord } from '@whiskeysockets/baileys/lib/Signal/Group/sender-key-record.js'

const GROUP = '120363040000000001@g.us'
const { proto } = baileys

async function groupSend(from, text) {
  return from.repo.encryptGroupMessage({ group: GROUP, meId: from.jid, data: Buffer.from(text) })
}

async function distribute(from, to, skdm) {
  await to.repo.processSenderKeyDistributionMessage({
    item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: skdm },
    authorJid: from.jid,
  })
}

async function groupRead(at, from, ciphertext) {
  const plain = await at.repo.decryptGroupMessage({ group: GROUP, authorJid: from.jid, msg: ciphertext })
  return Buffer.from(plain).toString()
}

test('their distribution processed by us; 500 of their messages read out of order', async () => {
  const them = await party('baileys', '5511000000101:3@s.whatsapp.net')
  const us = await party('ours', '123450000000102@lid')
  const sent = []
  for (let i = 0; i < 500; i++) {
    const { ciphertext, senderKeyDistributionMessage } = await groupSend(them, `from baileys ${i}`)
    if (i === 0) await distribute(them, us, senderKeyDistributionMessage)
    sent.push({ ciphertext, text: `from baileys ${i}` })
  }
  // Delivered in shuffled windows of 40 and a straggler from the start at the end.
  const rand = rng(7)
  const straggler = sent[1]
  const rest = sent.filter((m) => m !== straggler)
  for (let i = 0; i < rest.length; i += 40) {
    for (const m of shuffle(rest.slice(i, i + 40), rand)) assert.equal(await groupRead(us, them, m.ciphertext), m.text)
  }
  assert.equal(await groupRead(us, them, straggler.ciphertext), straggler.text)
  // A replay is refused.
  await assert.rejects(groupRead(us, them, sent[10].ciphertext), (e) => {
    assert.equal(e.code, 'ERR_WA_SIGNAL_DUPLICATE')
    assert.equal(e.address, `${GROUP}::5511000000101::3`)
    return true
  })
  // Everything arrived; what is left are the odd iterations, which Baileys' sender skips
  // (it uses iterations 0, 2, 4, ...), so they never come.
  const stored = us.auth.store.raw('sender-key', `${GROUP}::5511000000101::3`)
  const states = JSON.parse(Buffer.from(stored).toString())
  assert.equal(states.length, 1)
  const left = states[0].senderMessageKeys.map((k) => k.iteration)
  assert.deepEqual(left, Array.from({ length: 499 }, (_, i) => 2 * i + 1))
})

test('our distribution processed by Baileys; 500 of our messages read in order', async () => {
  const us = await party('ours', '5511000000103@s.whatsapp.net')
  const them = await party('baileys', '5511000000104@s.whatsapp.net')
  assert.equal(await us.repo.hasSenderKey({ group: GROUP, meId: us.jid }), false)
  const skdm = await us.repo.getSenderKeyDistributionMessage({ group: GROUP, meId: us.jid })
  assert.equal(await us.repo.hasSenderKey({ group: GROUP, meId: us.jid }), true)
  await distribute(us, them, skdm)
  for (let i = 0; i < 500; i++) {
    const { ciphertext, senderKeyDistributionMessage } = await groupSend(us, `from us ${i}`)
    // The distribution message stays valid for late joiners: same chain, current iteration.
    if (i === 250) {
      const late = await party('baileys', '5511000000105@s.whatsapp.net')
      await distribute(us, late, senderKeyDistributionMessage)
      assert.equal(await groupRead(late, us, ciphertext), `from us ${i}`)
    }
    assert.equal(await groupRead(them, us, ciphertext), `from us ${i}`)
  }
  // Our own record does not grow with the messages sent (Baileys' keeps a key per message).
  const own = JSON.parse(Buffer.from(us.auth.store.raw('sender-key', `${GROUP}::5511000000103::0`)).toString())
  assert.equal(own[0].senderMessageKeys.length, 0)
  assert.equal(own[0].senderChainKey.iteration, 500)
})

test('sender-key records: Baileys reads what we write, we read what Baileys writes', async () => {
  const a = await party('baileys', '5511000000106@s.whatsapp.net')
  const b = await party('baileys', '5511000000107@s.whatsapp.net')
  const first = await groupSend(a, 'm0')
  await distribute(a, b, first.senderKeyDistributionMessage)
  assert.equal(await groupRead(b, a, first.ciphertext), 'm0')
  const msgs = []
  for (let i = 1; i <= 6; i++) msgs.push(await groupSend(a, `m${i}`))
  // The sender switches to us over its Baileys-written record and keeps its chain.
  a.repo = repoOf('ours', a.auth)
  const m7 = await groupSend(a, 'm7')
  const skdm = (bytes) => proto.SenderKeyDistributionMessage.decode(Buffer.from(bytes).subarray(1))
  assert.equal(skdm(m7.senderKeyDistributionMessage).id, skdm(first.senderKeyDistributionMessage).id, 'same chain')
  assert.equal(skdm(m7.senderKeyDistributionMessage).iteration, 13, "Baileys' 7 messages used 13 chain steps")
  // The reader (Baileys) gets them in order.
  for (const [i, m] of msgs.entries()) assert.equal(await groupRead(b, a, m.ciphertext), `m${i + 1}`)
  assert.equal(await groupRead(b, a, m7.ciphertext), 'm7')
  // The reader switches to us; the keys Baileys kept for skipped messages read here, in any
  // order.
  const later = []
  for (let i = 8; i <= 12; i++) later.push(await groupSend(a, `m${i}`))
  assert.equal(await groupRead(b, a, later[4].ciphertext), 'm12')
  b.repo = repoOf('ours', b.auth)
  for (const i of [1, 3, 0, 2]) assert.equal(await groupRead(b, a, later[i].ciphertext), `m${i + 8}`)
  // And back to Baileys, which reads what follows (in order: rc14 cannot read skipped keys).
  b.repo = repoOf('baileys', b.auth)
  for (let i = 13; i <= 15; i++) {
    const m = await groupSend(a, `m${i}`)
    assert.equal(await groupRead(b, a, m.ciphertext), `m${i}`)
  }
})

test('Baileys rc14 itself fails on skipped sender keys; the same messages read with us', async () => {
  // Documents the bug we must not have ("Expected Buffer instead of: Object").
  const a = await party('baileys', '5511000000108@s.whatsapp.net')
  const b = await party('baileys', '5511000000109@s.whatsapp.net')
  const c = await party('ours', '5511000000110@s.whatsapp.net')
  const m = []
  for (let i = 0; i < 3; i++) m.push(await groupSend(a, `x${i}`))
  await distribute(a, b, m[0].senderKeyDistributionMessage)
  await distribute(a, c, m[0].senderKeyDistributionMessage)
  assert.equal(await groupRead(b, a, m[2].ciphertext), 'x2')
  await assert.rejects(groupRead(b, a, m[1].ciphertext), /Expected Buffer/)
  assert.equal(await groupRead(c, a, m[2].ciphertext), 'x2')
  assert.equal(await groupRead(c, a, m[1].ciphertext), 'x1')
  assert.equal(await groupRead(c, a, m[0].ciphertext), 'x0')
})

test('sender-key JSON: Baileys bytes -> ours -> bytes is exact; binary form is lossless', async () => {
  const a = await party('baileys', '5511000000111@s.whatsapp.net')
  const b = await party('baileys', '5511000000112@s.whatsapp.net')
  const m = []
  for (let i = 0; i < 4; i++) m.push(await groupSend(a, `y${i}`))
  await distribute(a, b, m[0].senderKeyDistributionMessage)
  for (const i of [0, 3]) await groupRead(b, a, m[i].ciphertext) // leaves two skipped keys
  for (const [p, name] of [
    [a, `${GROUP}::5511000000111::0`],
    [b, `${GROUP}::5511000000111::0`],
  ]) {
    const theirs = Buffer.from(p.auth.store.raw('sender-key', name))
    const mine = ours.senderKeyRecordToJson(theirs)
    // Byte for byte, skipped keys included; and Baileys reads both the same.
    assert.equal(mine.toString(), theirs.toString())
    const viaBaileys = (bytes) => canonical(SenderKeyRecord.deserialize(bytes).serialize())
    assert.equal(viaBaileys(mine), viaBaileys(theirs))
    assert.equal(ours.senderKeyRecordToJson(ours.senderKeyRecordToBinary(theirs)).toString(), mine.toString())
    assert.equal(ours.senderKeyRecordToJson(mine).toString(), mine.toString())
  }
})

test('forged, truncated and unknown group messages: typed errors, record untouched', async () => {
  const a = await party('ours', '5511000000113@s.whatsapp.net')
  const b = await party('ours', '5511000000114@s.whatsapp.net')
  const good = await groupSend(a, 'good')
  await distribute(a, b, good.senderKeyDistributionMessage)
  const name = `${GROUP}::5511000000113::0`
  const before = b.auth.store.raw('sender-key', name)
  const ct = Buffer.from(good.ciphertext)
  const cases = [
    [Buffer.concat([ct.subarray(0, -1), Buffer.from([ct.at(-1) ^ 1])]), 'ERR_WA_SIGNAL_BAD_SIGNATURE'],
    [ct.subarray(0, 50), 'ERR_WA_SIGNAL_INVALID_MESSAGE'],
    [Buffer.concat([Buffer.from([0x43]), ct.subarray(1)]), 'ERR_WA_SIGNAL_VERSION'],
    [Buffer.alloc(0), 'ERR_WA_SIGNAL_INVALID_MESSAGE'],
  ]
  for (const [bad, code] of cases) {
    await assert.rejects(groupRead(b, a, bad), (e) => e.code === code && e.address === name)
  }
  // A validly signed message whose plaintext padding is broken. Only the sender's record holds
  // the signing key and the reader's the chain key, so forge it from both with libsignal-node's
  // primitives: the message key of iteration 0, one AES block ending in 0x00 (no valid PKCS#7).
  const own = JSON.parse(Buffer.from(a.auth.store.raw('sender-key', name)).toString())[0]
  const reader = JSON.parse(Buffer.from(before).toString())[0]
  const seed = libsignal.crypto.calculateMAC(Buffer.from(reader.senderChainKey.seed.data), Buffer.from([1]))
  const [d0, d1] = libsignal.crypto.deriveSecrets(seed, Buffer.alloc(32), Buffer.from('WhisperGroup'))
  const aes = createCipheriv('aes-256-cbc', Buffer.concat([d0.subarray(16), d1.subarray(0, 16)]), d0.subarray(0, 16))
  aes.setAutoPadding(false)
  const badPadding = Buffer.concat([aes.update(Buffer.alloc(16, 0)), aes.final()])
  const body = proto.SenderKeyMessage.encode({ id: own.senderKeyId, iteration: 0, ciphertext: badPadding }).finish()
  const unsigned = Buffer.concat([Buffer.from([0x33]), Buffer.from(body)])
  const priv = Buffer.from(own.senderSigningKey.private.data)
  const signed = Buffer.concat([unsigned, libsignal.curve.calculateSignature(priv, unsigned)])
  await assert.rejects(groupRead(b, a, signed), { code: 'ERR_WA_SIGNAL_DECRYPT' })
  assert.deepEqual(b.auth.store.raw('sender-key', name), before)
  assert.equal(await groupRead(b, a, good.ciphertext), 'good')
  // No distribution from this sender yet.
  const c = await party('ours', '5511000000115@s.whatsapp.net')
  await assert.rejects(groupRead(c, a, good.ciphertext), { code: 'ERR_WA_SIGNAL_NO_SENDER_KEY' })
  await assert.rejects(
    c.repo.processSenderKeyDistributionMessage({ item: { axolotlSenderKeyDistributionMessage: Buffer.alloc(3) }, authorJid: a.jid }),
    { code: 'ERR_WA_SIGNAL_ARGUMENT' },
  )
  await assert.rejects(distribute(a, c, Buffer.from([0x33, 1, 2, 3])), { code: 'ERR_WA_SIGNAL_INVALID_MESSAGE' })
})

test('a sender we no longer follow: 2,000 ahead reads, 2,001 ahead is refused', async () => {
  const a = await party('ours', '5511000000116@s.whatsapp.net')
  const b = await party('ours', '5511000000117@s.whatsapp.net')
  const first = await groupSend(a, 'start')
  await distribute(a, b, first.senderKeyDistributionMessage)
  const msgs = []
  for (let i = 1; i <= 2002; i++) msgs.push(await groupSend(a, `n${i}`))
  await assert.rejects(groupRead(b, a, msgs[2000].ciphertext), { code: 'ERR_WA_SIGNAL_FUTURE_LIMIT' })
  assert.equal(await groupRead(b, a, msgs[1999].ciphertext), 'n2000')
  assert.equal(await groupRead(b, a, first.ciphertext), 'start')
  assert.equal(await groupRead(b, a, msgs[2001].ciphertext), 'n2002')
})
