// A worker thread of event-loop.test.mjs: one of our sockets made in the worker, so it runs on
// the worker's own event loop. Pairs through the parent (which holds the test server), sends
// `count` texts to `phone`, waits for `count` from it, then ends the socket, or with `stay`
// keeps it connected for the parent to terminate the worker.
import { parentPort, workerData } from 'node:worker_threads'
import makeWASocket, { initAuthCreds, KeyStore, MemoryEngine } from '../index.mjs'

const { url, rootPublicKey, phone, count, stay } = workerData
const noop = () => {}
const logger = { level: 'silent', trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop }
logger.child = () => logger
const auth = { creds: initAuthCreds(), keys: KeyStore.fromEngine(new MemoryEngine()) }
const connect = () =>
  makeWASocket({ auth, waWebSocketUrl: url, waCertPublicKey: Buffer.from(rootPublicKey), logger })
const update = (sock, pick) =>
  new Promise((resolve) => {
    const on = (u) => {
      if (!pick(u)) return
      sock.ev.off('connection.update', on)
      resolve(u)
    }
    sock.ev.on('connection.update', on)
  })

let sock = connect()
const { qr } = await update(sock, (u) => !!u.qr)
const restarted = update(sock, (u) => u.connection === 'close')
parentPort.postMessage({ qr })
await restarted
sock = connect()
const received = []
let all
const got = new Promise((r) => (all = r))
sock.ev.on('messages.upsert', ({ messages }) => {
  for (const m of messages) {
    if (m.key.fromMe || !m.message?.conversation) continue
    received.push(m.message.conversation)
    if (received.length === count) all()
  }
})
await update(sock, (u) => u.connection === 'open')
parentPort.postMessage({ open: sock.user.id })
for (let i = 0; i < count; i++) await sock.sendMessage(phone, { text: `from the worker ${i}` })
await got
parentPort.postMessage({ received })
if (!stay) {
  const closed = update(sock, (u) => u.connection === 'close')
  sock.end(undefined)
  await closed
  parentPort.postMessage({ closed: true })
}
