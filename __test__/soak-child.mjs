// The soak test's child process (run with --expose-gc by soak.test.mjs; not a test file itself):
// SOAK_SOCKETS of our sockets log in, each sends one text to the next and waits until its own
// text from the previous one arrived, then all end; SOAK_ROUNDS rounds (the first pairs them).
// After each round, with every socket ended, it records RSS and JS heap after forced GC, how
// many texts reached their receiver, and how many of the sockets ended so far are still
// reachable (a WeakRef to each one's `ev`, which the binding's event callback holds: the
// binding must let an ended socket go), and prints one JSON
// line: { rounds: [{ rss, heap, delivered, alive, ms }] } (MiB).
import { remoteServer, settle, inFlight, clientFactory } from './remote-server.mjs'

const SOCKETS = Number(process.env.SOAK_SOCKETS || 200)
const ROUNDS = Number(process.env.SOAK_ROUNDS || 5)
const CONCURRENCY = 8

const server = await remoteServer('soak')
const make = await clientFactory('ours', server)
const clients = Array.from({ length: SOCKETS }, (_, i) => make(`s${i}`))
const number = (i) => `1555700${String(i).padStart(4, '0')}`
const rounds = []
const ended = []
try {
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now()
    await inFlight(SOCKETS, CONCURRENCY, (i) => (round === 0 ? clients[i].pairByQR(number(i)) : clients[i].login()))
    const ids = await Promise.all(
      clients.map(async (c, i) => {
        const to = `${clients[(i + 1) % SOCKETS].number}@s.whatsapp.net`
        const sent = await c.sock.sendMessage(to, { text: `round ${round} from ${i}` })
        return sent.key.id
      }),
    )
    await withTimeout(
      Promise.all(clients.map((c, i) => c.waitAll([ids[(i - 1 + SOCKETS) % SOCKETS]]))),
      60_000,
      `round ${round}: not every text arrived`,
    )
    const delivered = clients.filter((c, i) => c.has(ids[(i - 1 + SOCKETS) % SOCKETS])).length
    // The event emitter is what the binding's event callback holds: if the native side kept
    // an ended socket's callback, its emitter would stay reachable.
    for (const c of clients) ended.push(new WeakRef(c.sock.ev))
    await inFlight(SOCKETS, 32, (i) => clients[i].end())
    // With V8's memory reducer: forced GCs free the JS heap's objects but V8 keeps the pages
    // it grew to under the rounds' load (heapTotal 12 -> 43 MiB over five rounds at a steady
    // ~9 MiB used), which is RSS no ended socket holds; the reducer returns them when idle.
    const m = await settle({ reducer: true })
    const alive = ended.filter((w) => w.deref() !== undefined).length
    rounds.push({ ...m, delivered, alive, ms: performance.now() - t0 })
    process.stderr.write(
      `[soak] round ${round + 1}: rss ${m.rss.toFixed(1)} MiB, heap ${m.heap.toFixed(1)} MiB, ${delivered} delivered, ${alive} of ${ended.length} ended sockets still reachable\n`,
    )
  }
} finally {
  server.stop()
}
process.stdout.write(`${JSON.stringify({ rounds })}\n`)
process.exit(0)

function withTimeout(p, ms, message) {
  let t
  return Promise.race([p, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(message)), ms)))]).finally(() =>
    clearTimeout(t),
  )
}
