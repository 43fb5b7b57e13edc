// A burst of deliveries: the simulated phone sends texts to our socket as fast as it can while
// the socket answers each with receipts and acks, so the test server writes to one connection
// from several threads at once. Every text must arrive and the connection must stay up. (It
// did not: the server handed one connection's Noise frames to its writer out of order, and the
// client, rightly, failed to decrypt and closed the connection.)
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer } from '../lib/testing.mjs'
import { makeWASocket, initAuthCreds, KeyStore, MemoryEngine } from '../index.mjs'
import { trustServer, exitWhenDone } from './testserver-util.mjs'

const server = await startTestServer({ seed: 'receive burst' })
const restore = trustServer(server)
after(async () => {
  restore()
  await server.stop()
  exitWhenDone()
})

function update(sock, pred) {
  return new Promise((resolve) => {
    const on = (u) => {
      if (pred(u)) {
        sock.ev.off('connection.update', on)
        resolve(u)
      }
    }
    sock.ev.on('connection.update', on)
  })
}

test('1,000 texts from the phone with 20 sends in flight all reach messages.upsert on one connection', async () => {
  const auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }
  const open = () => makeWASocket({ auth, waWebSocketUrl: server.url, waCertPublicKey: server.rootPublicKey })
  let sock = open()
  const { qr } = await update(sock, (u) => !!u.qr)
  const restarted = update(sock, (u) => u.connection === 'close')
  await server.scanQR(qr, { phoneNumber: '15550820001' })
  await restarted
  sock = open()
  await update(sock, (u) => u.connection === 'open')
  const closes = []
  sock.ev.on('connection.update', (u) => u.connection === 'close' && closes.push(u.lastDisconnect?.error?.message))
  const seen = new Set()
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) seen.add(m.key.id)
  })

  const phone = server.phone('15550820002')
  const ids = []
  const pending = new Set()
  for (let i = 0; i < 1000; i++) {
    const p = phone.sendText(sock.user.id, `burst ${i}`).then((id) => {
      ids.push(id)
      pending.delete(p)
    })
    pending.add(p)
    if (pending.size >= 20) await Promise.race(pending)
  }
  await Promise.all(pending)
  const started = Date.now()
  while (ids.some((id) => !seen.has(id)) && closes.length === 0 && Date.now() - started < 60_000) {
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.deepEqual(closes, [], 'the connection closed during the burst')
  assert.equal(ids.filter((id) => seen.has(id)).length, 1000)
  sock.end(undefined)
})
