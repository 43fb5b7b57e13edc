// Child of event-loop.test.mjs: one of our sockets against the CLI test server (its own
// process), 200 texts received one at a time from a simulated phone and 200 sent, awaited one
// by one. Prints, as JSON, what arrived and how often tokio's threads slept per text (each
// sleep is a wake-up the text cost them). The parent runs it with and without
// BAILEYS_NATIVE_EVENT_LOOP=0.
import { readdirSync, readFileSync } from 'node:fs'
import { remoteServer, clientFactory } from './remote-server.mjs'

const N = 200

/** Voluntary context switches of this process' tokio threads (workers and blocking pool). */
function tokioSleeps() {
  let n = 0
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const st = readFileSync(`/proc/self/task/${t}/status`, 'utf8')
      if (!/^Name:\s*tokio/m.test(st)) continue
      n += Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(st)?.[1] ?? 0)
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return n
}

const server = await remoteServer('event-loop-child')
try {
  const make = await clientFactory('ours', server)
  const me = make('me')
  await me.pairByQR('15556100001')
  const phone = server.phone('15556100002')
  const texts = []
  me.sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) if (!m.key.fromMe && m.message?.conversation) texts.push(m.message.conversation)
  })
  // Settle: the post-login queries and their store writes are not what is counted.
  await new Promise((r) => setTimeout(r, 500))

  const r0 = tokioSleeps()
  const ids = await phone.sendTexts(`${me.number}@s.whatsapp.net`, {
    prefix: 'in ',
    count: N,
    inFlight: 1,
    receiptFrom: me.sock.user.id,
  })
  await me.waitAll(ids)
  const recvSleeps = (tokioSleeps() - r0) / N

  const s0 = tokioSleeps()
  for (let i = 0; i < N; i++) await me.sock.sendMessage(phone.jid, { text: `out ${i}` })
  const sendSleeps = (tokioSleeps() - s0) / N
  await phone.waitForInbox(N, { timeoutMs: 60_000 })
  const inbox = (await phone.inbox()).map((m) => m.message?.conversation ?? m.message?.extendedTextMessage?.text)
  await me.end()
  console.log(JSON.stringify({ received: texts, inbox, recvSleeps, sendSleeps }))
} finally {
  server.stop()
}
process.exit(0)
