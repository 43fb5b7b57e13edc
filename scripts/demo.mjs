#!/usr/bin/env node
// `npm run demo`: a bot on baileys-native talking to the embedded test server, end to end.
// It pairs by QR through the simulated phone, opens, sends a text to a phone, prints the
// reply it receives in `messages.upsert`, logs out. Then a short look at the wire codec.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { default: makeWASocket, DisconnectReason, initAuthCreds, KeyStore, MemoryEngine } = require('../index.js')
const { startTestServer } = require('../lib/testing.js')

const BOT = '15550100'
const FRIEND = '15550199'
const t0 = Date.now()
const at = () => `${String(Date.now() - t0).padStart(5)} ms`
const text = (m) => m.message?.conversation ?? m.message?.extendedTextMessage?.text

const server = await startTestServer({ seed: 'demo' })
const friend = server.phone(FRIEND) // a WhatsApp user with a phone, for the bot to talk to
console.log(`${at()}  test server on ${server.url}`)

// The auth state a bot keeps (here in memory; useMultiFileAuthState('auth') works the same).
const auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }

function connect() {
  return makeWASocket({
    auth,
    waWebSocketUrl: server.url,
    waCertPublicKey: server.rootPublicKey, // trust the test server's root instead of WhatsApp's
  })
}

const done = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('demo timed out')), 30_000)
  const start = (sock) => {
    sock.ev.on('connection.update', (u) => onUpdate(sock, u).catch(reject))
    sock.ev.on('messages.upsert', (u) => onUpsert(sock, u).catch(reject))
  }
  const onUpdate = async (sock, { connection, lastDisconnect, qr }) => {
    if (qr) {
      console.log(`${at()}  QR: ${qr.slice(0, 64)}...`)
      const jid = await server.scanQR(qr, { phoneNumber: BOT, pushName: 'Demo bot' })
      console.log(`${at()}  the phone scanned it: paired as ${jid}`)
    }
    if (connection === 'open') {
      console.log(`${at()}  connection open as ${sock.user.id}`)
      const sent = await sock.sendMessage(`${FRIEND}@s.whatsapp.net`, { text: 'Hello from baileys-native!' })
      console.log(`${at()}  sent "${text(sent)}" (${sent.key.id}), acknowledged by the server`)
      const inbox = await friend.waitForInbox(1)
      console.log(`${at()}  ${FRIEND}'s phone decrypted: "${text(inbox[0])}"`)
      await friend.sendText(`${BOT}@s.whatsapp.net`, 'Hi bot, nice to meet you')
    }
    if (connection === 'close') {
      const code = lastDisconnect?.error?.output?.statusCode
      if (code === DisconnectReason.restartRequired) {
        console.log(`${at()}  server asked for a restart (515): reconnecting with the stored creds`)
        start(connect())
      } else {
        console.log(`${at()}  closed: ${lastDisconnect?.error?.message} (${code})`)
        clearTimeout(timer)
        resolve()
      }
    }
  }
  const onUpsert = async (sock, { messages, type }) => {
    for (const m of messages) {
      if (m.key.fromMe || !text(m)) continue
      console.log(`${at()}  messages.upsert (${type}) from ${m.key.remoteJid}: "${text(m)}"`)
      await sock.logout()
    }
  }
  start(connect())
})

try {
  await done
} finally {
  await server.stop()
}

// The wire codec on a realistic frame, byte-identical with Baileys' encoder.
const wa = require('../index.js')
const frame = readFileSync(new URL('../crates/wa-binary/tests/corpus/message-out-fanout.bin', import.meta.url))
const node = await wa.decodeBinaryNode(frame)
const again = wa.encodeBinaryNode(node)
console.log(`\ncodec: decoded a ${frame.length}-byte <${node.tag}> fan-out to ${wa.getBinaryNodeChildren(wa.getBinaryNodeChild(node, 'participants'), 'to').length} devices; re-encoded identically: ${again.equals(frame)}`)
