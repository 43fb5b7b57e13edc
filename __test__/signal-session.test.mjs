// One-to-one sessions against the real Baileys 7 repository (libsignal-node underneath):
// built each way, with and without one-time prekeys; a long conversation with bursts,
// out-of-order delivery, skipped keys and a message 1,999 ahead; identity changes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { party, connect, send, receive, bundleOf, repoOf, rng, shuffle } from './signal-util.mjs'

async function exchange(a, b, n = 3) {
  for (let i = 0; i < n; i++) {
    const m = await send(a, b, `${a.kind}->${b.kind} ${i}`)
    assert.equal(await receive(m), m.text)
    const r = await send(b, a, `${b.kind}->${a.kind} ${i}`)
    assert.equal(await receive(r), r.text)
  }
}

for (const [initiator, responder] of [
  ['ours', 'baileys'],
  ['baileys', 'ours'],
]) {
  for (const oneTime of [true, false]) {
    test(`${initiator} builds from ${responder}'s bundle ${oneTime ? 'with' : 'without'} a one-time prekey`, async () => {
      const a = await party(initiator, '5511000000001@s.whatsapp.net')
      const b = await party(responder, '5511000000002@s.whatsapp.net')
      await connect(a, b, oneTime ? 3 : null)
      const first = await send(a, b, 'hello')
      assert.equal(first.type, 'pkmsg')
      const second = await send(a, b, 'still pending')
      assert.equal(second.type, 'pkmsg', 'prekey messages until the first answer')
      assert.ok(b.auth.store.raw('pre-key', '3'))
      assert.equal(await receive(first), 'hello')
      assert.equal(await receive(second), 'still pending')
      // The one-time prekey is consumed if and only if it was used.
      assert.equal(b.auth.store.raw('pre-key', '3') === undefined, oneTime)
      const reply = await send(b, a, 'hi')
      assert.equal(reply.type, 'msg')
      assert.equal(await receive(reply), 'hi')
      const third = await send(a, b, 'answered')
      assert.equal(third.type, 'msg', 'no prekey message after the answer')
      assert.equal(await receive(third), 'answered')
      await exchange(a, b)
      // Both repositories report the same open session.
      const infoA = await a.repo.getSessionInfo(b.jid)
      const infoB = await b.repo.getSessionInfo(a.jid)
      assert.deepEqual(Buffer.from(infoA.baseKey), Buffer.from(infoB.baseKey))
      assert.equal(infoA.registrationId, b.auth.creds.registrationId)
      assert.deepEqual(await a.repo.validateSession(b.jid), { exists: true })
    })
  }
}

test('1,000 messages alternating direction, with bursts, reordering, held-back messages and a jump of 1,999', async () => {
  const rand = rng(20240601)
  const a = await party('ours', '5511000000003:2@s.whatsapp.net')
  const b = await party('baileys', '123456789012345:4@lid')
  await connect(a, b, 1)
  let delivered = 0
  let held = []
  const deliver = async (m) => {
    assert.equal(await receive(m), m.text)
    delivered++
  }
  let sender = a
  let receiver = b
  let serial = 0
  while (delivered < 1000) {
    const burst = 1 + Math.floor(rand() * 6)
    const msgs = []
    for (let i = 0; i < burst; i++) msgs.push(await send(sender, receiver, `#${serial++} ${sender.kind}`))
    const order = rand() < 0.5 ? msgs : shuffle(msgs, rand)
    for (const m of order) {
      // Now and then a message is held back and arrives after later ratchet steps.
      if (rand() < 0.08) held.push(m)
      else await deliver(m)
    }
    if (held.length && rand() < 0.3) {
      for (const m of shuffle(held, rand)) await deliver(m)
      held = []
    }
    ;[sender, receiver] = [receiver, sender]
  }
  for (const m of held) await deliver(m)
  // A message 1,999 ahead, each way: 2,000 sent, the last delivered first, then some of the gap.
  for (const [s, r] of [
    [a, b],
    [b, a],
  ]) {
    const gap = []
    for (let i = 0; i < 2000; i++) gap.push(await send(s, r, `gap ${i}`))
    await deliver(gap[1999])
    for (const i of [0, 1000, 1998]) await deliver(gap[i])
    const back = await send(r, s, 'after the gap')
    await deliver(back)
  }
  assert.ok(delivered >= 1000 + 10)
})

test('identity change re-establishes the session cleanly, both ways', async () => {
  const a = await party('ours', '5511000000005@s.whatsapp.net')
  let b = await party('baileys', '5511000000006@s.whatsapp.net')
  await connect(a, b, 1)
  await exchange(a, b, 2)
  // B reinstalls: new identity, same JID. B's first message is a pkmsg under the new identity.
  b = await party('baileys', b.jid)
  await connect(b, a, 2)
  const m = await send(b, a, 'new phone who dis')
  assert.equal(m.type, 'pkmsg')
  assert.equal(await receive(m), 'new phone who dis')
  const storedIdentity = Buffer.from(a.auth.store.raw('identity-key', '5511000000006.0'))
  assert.equal(storedIdentity.toString('hex'), Buffer.from(b.auth.creds.signedIdentityKey.public).toString('hex').replace(/^/, '05'))
  await exchange(a, b, 2)
  // Old sessions with the old identity are gone; one session remains.
  const rec = a.auth.store.raw('session', '5511000000006.0')
  assert.equal(Object.keys(rec._sessions).length, 1)
  // A reinstalls (ours): B gets a pkmsg from the new identity, and A can also rebuild from
  // B's bundle after B reinstalls again.
  const a2 = await party('ours', a.jid)
  await connect(a2, b, 3)
  const m2 = await send(a2, b, 'ours again')
  assert.equal(await receive(m2), 'ours again')
  await exchange(a2, b, 2)
  const b3 = await party('baileys', b.jid)
  await connect(a2, b3, 1)
  assert.equal(Object.keys(a2.auth.store.raw('session', '5511000000006.0')._sessions).length, 1)
  const m3 = await send(a2, b3, 'to the newest b')
  assert.equal(await receive(m3), 'to the newest b')
  await exchange(a2, b3, 1)
})

test('a re-fetched bundle closes the open session; late messages on the old one still read', async () => {
  const a = await party('ours', '5511000000007@s.whatsapp.net')
  const b = await party('baileys', '5511000000008@s.whatsapp.net')
  await connect(a, b, 1)
  await exchange(a, b, 1)
  const late = await send(b, a, 'late')
  await connect(a, b, 2) // a retry receipt makes Baileys fetch keys again
  const fresh = await send(a, b, 'on the new session')
  assert.equal(fresh.type, 'pkmsg')
  assert.equal(await receive(late), 'late')
  assert.equal(await receive(fresh), 'on the new session')
  await exchange(a, b, 2)
})

test('our repository continues over Baileys auth state and back (same key store)', async () => {
  // A conversation between two Baileys repositories; then one side switches to ours on the
  // same auth state and carries on, including a message whose key libsignal-node skipped.
  const a = await party('baileys', '5511000000009@s.whatsapp.net')
  const b = await party('baileys', '5511000000010@s.whatsapp.net')
  await connect(a, b, 1)
  await exchange(a, b, 3)
  const skipped = await send(a, b, 'skipped by libsignal-node')
  const next = await send(a, b, 'next')
  assert.equal(await receive(next), 'next')
  b.repo = repoOf('ours', b.auth)
  b.kind = 'ours'
  assert.equal(await receive(skipped), 'skipped by libsignal-node')
  await exchange(a, b, 3)
  // ... and the reverse: ours writes, Baileys continues.
  const skipped2 = await send(a, b, 'skipped by us')
  const next2 = await send(a, b, 'next2')
  assert.equal(await receive(next2), 'next2')
  b.repo = repoOf('baileys', b.auth)
  b.kind = 'baileys'
  assert.equal(await receive(skipped2), 'skipped by us')
  await exchange(a, b, 3)
  // The initiator side switches too.
  a.repo = repoOf('ours', a.auth)
  a.kind = 'ours'
  await exchange(a, b, 3)
  // Pending prekey written by libsignal-node: ours keeps sending pkmsg until answered.
  const c = await party('baileys', '5511000000011@s.whatsapp.net')
  await connect(c, b, 2)
  c.repo = repoOf('ours', c.auth)
  c.kind = 'ours'
  const p = await send(c, b, 'pending from node')
  assert.equal(p.type, 'pkmsg')
  assert.equal(await receive(p), 'pending from node')
  await exchange(c, b, 2)
})

test('bundles with a bad signature or malformed keys are refused before anything is stored', async () => {
  const a = await party('ours', '5511000000012@s.whatsapp.net')
  const b = await party('baileys', '5511000000013@s.whatsapp.net')
  const bundle = await bundleOf(b.auth, 1)
  const before = a.auth.store.snapshot()
  const badSig = { ...bundle, signedPreKey: { ...bundle.signedPreKey, signature: Buffer.alloc(64, 1) } }
  await assert.rejects(a.repo.injectE2ESession({ jid: b.jid, session: badSig }), (e) => {
    assert.equal(e.code, 'ERR_WA_SIGNAL_BAD_SIGNATURE')
    assert.equal(e.address, '5511000000013.0')
    return true
  })
  const badKey = { ...bundle, identityKey: Buffer.alloc(20, 5) }
  await assert.rejects(a.repo.injectE2ESession({ jid: b.jid, session: badKey }), { code: 'ERR_WA_SIGNAL_INVALID_KEY' })
  assert.deepEqual(a.auth.store.snapshot(), before)
})
