// makeEventBuffer against Baileys 7's own buffer on the same event sequences: a seeded random
// walk over every bufferable event (upserts, updates, deletes, reactions, receipts, history
// sets, conditional chat updates, upsert type changes), buffered and flushed in rounds; both
// must emit the same consolidated maps, in the same order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makeEventBuffer as baileysBuffer } from '@whiskeysockets/baileys'
import { makeEventBuffer } from '../index.mjs'
import { rng } from './fixtures/binary-corpus.mjs'

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child() { return quiet } }

function scenario(seed, steps) {
  const r = rng(seed)
  const int = (n) => Math.floor(r() * n)
  const pick = (a) => a[int(a.length)]
  const jids = ['1@s.whatsapp.net', '2@s.whatsapp.net', '3@g.us', '4@lid']
  const ids = ['A', 'B', 'C', 'D', 'E']
  const key = () => ({ remoteJid: pick(jids), id: pick(ids), fromMe: r() < 0.3, ...(r() < 0.3 ? { participant: pick(jids) } : {}) })
  const message = () => ({ key: key(), messageTimestamp: 1_700_000_000 + int(1000), message: r() < 0.8 ? { conversation: `t${int(9)}` } : { reactionMessage: { text: 'x' } }, ...(r() < 0.2 ? { messageStubType: 27 } : {}) })
  const chat = () => ({ id: pick(jids), ...(r() < 0.7 ? { unreadCount: int(5) - 1 } : {}), ...(r() < 0.3 ? { name: `n${int(5)}` } : {}), ...(r() < 0.1 ? { unreadCount: null } : {}) })
  const out = []
  for (let i = 0; i < steps; i++) {
    switch (int(15)) {
      case 0: out.push(['buffer']); break
      case 1: out.push(['flush']); break
      case 2: out.push(['messages.upsert', { messages: [message(), message()], type: pick(['notify', 'append', 'notify']) }]); break
      case 3: out.push(['messages.update', [{ key: key(), update: pick([{ status: 4 }, { status: 3 }, { starred: true }]) }]]); break
      case 4: out.push(['messages.delete', { keys: [key()] }]); break
      case 5: out.push(['messages.reaction', [{ key: key(), reaction: { key: key(), text: pick(['👍', '', '❤️']) } }]]); break
      case 6: out.push(['message-receipt.update', [{ key: key(), receipt: { userJid: pick(jids), readTimestamp: int(100) } }]]); break
      case 7: out.push(['chats.upsert', [chat()]]); break
      case 8: out.push(['chats.update', [chat()]]); break
      case 9: out.push(['chats.delete', [pick(jids)]]); break
      case 10: out.push(['contacts.upsert', [{ id: pick(jids), notify: `p${int(3)}` }]]); break
      case 11: out.push(['contacts.update', [{ id: pick(jids), imgUrl: pick(['changed', 'removed']) }]]); break
      case 12: out.push(['groups.update', [{ id: '3@g.us', subject: `s${int(3)}` }]]); break
      case 13: out.push(['messaging-history.set', { chats: [chat()], contacts: [{ id: pick(jids), name: 'h' }], messages: [message()], syncType: int(6), progress: int(100), isLatest: r() < 0.5, chunkOrder: int(3) }]); break
      default: out.push(['connection.update', { connection: 'open' }]); break
    }
  }
  out.push(['flush'])
  return out
}

function run(make, steps) {
  const ev = make(quiet)
  const seen = []
  ev.process((map) => seen.push(JSON.parse(JSON.stringify(map))))
  const single = []
  ev.on('messages.upsert', (d) => single.push(['messages.upsert', d.type, d.messages.length]))
  for (const [op, data] of steps) {
    if (op === 'buffer') ev.buffer()
    else if (op === 'flush') ev.flush()
    else ev.emit(op, structuredClone(data))
  }
  ev.destroy?.()
  return { seen, single }
}

test('the same consolidated events as Baileys\' buffer over 300 random sequences', () => {
  let maps = 0
  const kinds = new Set()
  for (let seed = 1; seed <= 300; seed++) {
    const steps = scenario(seed, 40)
    const theirs = run(baileysBuffer, steps)
    const ours = run(makeEventBuffer, steps)
    assert.deepEqual(ours.seen, theirs.seen, `seed ${seed}`)
    assert.deepEqual(ours.single, theirs.single, `seed ${seed}`)
    maps += ours.seen.length
    for (const m of ours.seen) for (const k of Object.keys(m)) kinds.add(k)
  }
  console.log(`event buffer: ${maps} emitted maps equal, covering ${[...kinds].sort().join(', ')}`)
  assert.ok(kinds.size >= 12)
})

test('conditional chat updates wait across flushes as in Baileys', () => {
  for (const make of [baileysBuffer, makeEventBuffer]) {
    const ev = make(quiet)
    const seen = []
    ev.process((m) => seen.push(m))
    ev.buffer()
    let decided
    ev.emit('chats.update', [{ id: 'x@s.whatsapp.net', unreadCount: 2, conditional: () => decided }])
    ev.flush()
    assert.deepEqual(seen, [])
    ev.buffer()
    decided = true
    ev.emit('chats.upsert', [{ id: 'x@s.whatsapp.net', unreadCount: 1 }])
    ev.flush()
    assert.deepEqual(JSON.parse(JSON.stringify(seen)), [{ 'chats.upsert': [{ id: 'x@s.whatsapp.net', unreadCount: 3 }] }])
    ev.destroy()
  }
})

test('createBufferedFunction flushes after the work, like Baileys', async () => {
  for (const make of [baileysBuffer, makeEventBuffer]) {
    const ev = make(quiet)
    const seen = []
    ev.process((m) => seen.push(Object.keys(m)))
    const work = ev.createBufferedFunction(async () => {
      ev.emit('chats.upsert', [{ id: 'a@s.whatsapp.net' }])
      ev.emit('contacts.upsert', [{ id: 'a@s.whatsapp.net' }])
      return 7
    })
    assert.equal(await work(), 7)
    assert.equal(ev.isBuffering(), true)
    await new Promise((r) => setTimeout(r, 150))
    assert.equal(ev.isBuffering(), false)
    assert.deepEqual(seen, [['chats.upsert', 'contacts.upsert']])
    ev.destroy()
  }
})

test('reading a buffered unread message takes it off the chat\'s unread count, as in Baileys', () => {
  const steps = [
    ['buffer'],
    ['chats.upsert', [{ id: '1@s.whatsapp.net', unreadCount: 2 }]],
    ['messages.upsert', { messages: [{ key: { remoteJid: '1@s.whatsapp.net', id: 'A', fromMe: false }, message: { conversation: 'hi' } }], type: 'notify' }],
    ['messages.update', [{ key: { remoteJid: '1@s.whatsapp.net', id: 'A', fromMe: false }, update: { status: 4 } }]],
    ['chats.update', [{ id: '2@s.whatsapp.net', unreadCount: 1 }]],
    ['messages.upsert', { messages: [{ key: { remoteJid: '2@s.whatsapp.net', id: 'B', fromMe: false }, message: { conversation: 'yo' } }], type: 'notify' }],
    ['messages.update', [{ key: { remoteJid: '2@s.whatsapp.net', id: 'B', fromMe: false }, update: { status: 4 } }]],
    ['flush'],
  ]
  const theirs = run(baileysBuffer, steps)
  const ours = run(makeEventBuffer, steps)
  assert.deepEqual(ours.seen, theirs.seen)
  assert.equal(ours.seen[0]['chats.upsert'][0].unreadCount, 1)
  assert.equal('unreadCount' in ours.seen[0]['chats.update'][0], false)
})
