// Profiling driver for docs/performance.md (not a benchmark: `npm run bench` does not run it).
// Our sockets only, against the CLI test server in its own process, so a profiler attached to
// this process sees the client alone.
//
//   heaptrack -o /tmp/idle node --expose-gc benchmark/profile.mjs idle 50
//       pairs 1 + 50 sockets, settles, and exits with all of them still connected: what
//       heaptrack reports as "leaked" is what the idle sockets hold.
//   node --perf-basic-prof --expose-gc benchmark/profile.mjs cpu 4000 /tmp/perf
//       pairs one socket, then runs `perf record --call-graph dwarf` on this process while a simulated phone
//       sends it 4000 texts (10 in flight), and again while it sends 4000 (10 in flight):
//       /tmp/perf-recv.data and /tmp/perf-send.data. Also prints the CPU per 1,000 texts.
//       PROFILE_IN_FLIGHT sets the calls in flight (10 by default), PROFILE_FREQ the sampling
//       rate (499 Hz), PROFILE_STAT=1 counts instead of sampling (A/B runs of the CPU figure),
//       PROFILE_DELAY_MS holds the server's frames to the socket back (a network hop).
//   valgrind --tool=callgrind --collect-atstart=no node --expose-gc benchmark/profile.mjs cpu 500
//       with PROFILE_CALLGRIND=1: the instructions of each phase alone, in callgrind.out.*.
import { spawn } from 'node:child_process'
import { remoteServer, settle, inFlight, clientFactory, pinApart, threadSwitches } from '../__test__/remote-server.mjs'

const [mode, count = '50', out = '/tmp/perf'] = process.argv.slice(2)

const server = await remoteServer(`profile ${mode}`)
// PROFILE_IMPL=baileys runs the same with a Baileys socket (its sleeps per text, for comparison).
const make = await clientFactory(process.env.PROFILE_IMPL || 'ours', server)
const number = (i) => `1555600${String(i).padStart(4, '0')}`

const first = make('c0')
await first.pairByQR(number(0))
if (mode === 'idle') {
  const base = await settle({ reducer: true })
  await inFlight(Number(count), 8, async (i) => make(`c${i + 1}`).pairByQR(number(i + 1)))
  const m = await settle({ reducer: true })
  console.error(`1 socket: rss ${base.rss.toFixed(1)} MiB; ${1 + Number(count)}: rss ${m.rss.toFixed(1)} MiB`)
  // Give heaptrack's and the workers' idle state a moment, then leave with the sockets up.
  await new Promise((r) => setTimeout(r, 1000))
} else if (mode === 'cpu') {
  const n = Number(count)
  // PROFILE_IN_FLIGHT=1 profiles one text at a time (the lean bench's other column).
  const flight = Number(process.env.PROFILE_IN_FLIGHT || 10)
  const me = `${first.number}@s.whatsapp.net`
  const phone = server.phone('15556099999')
  // As in the lean bench's CPU rows: the server on its own core, no forced GC before a phase.
  console.error(pinApart(server))
  // PROFILE_DELAY_MS: frames to the socket held back so long, as in the lean bench's
  // BENCH_LEAN_DELAY_MS (a server one network hop away).
  const delay = Number(process.env.PROFILE_DELAY_MS || 0)
  if (delay > 0 && (await server.delayFrames(first.sock.user.id, delay)) !== 1) throw new Error('PROFILE_DELAY_MS: no connection to delay')
  const profile = async (name, fn) => {
    await new Promise((r) => setTimeout(r, 1500))
    // DWARF unwinding: the addon is built without frame pointers.
    const graph = process.env.PROFILE_CALL_GRAPH || 'dwarf,16384'
    // PROFILE_STAT=1 attaches `perf stat` instead of sampling: the CPU printed below is then
    // the driver's own (instruction counts too, where the machine has the counters).
    // PROFILE_SYSCALLS=1 attaches `perf trace -s` instead: system calls by thread, in
    // `${out}-${name}.syscalls`.
    // PROFILE_CALLGRIND=1, with this process run under `valgrind --tool=callgrind
    // --collect-atstart=no`: instructions are counted for the phase alone, and dumped to
    // callgrind.out.<pid>.<n> (a count that timing noise does not move, for A/B runs).
    if (process.env.PROFILE_CALLGRIND) {
      const control = (...a) => new Promise((r) => spawn('callgrind_control', [...a, String(process.pid)], { stdio: 'ignore' }).once('exit', r))
      await control('-z')
      await control('-i', 'on')
      const u0 = process.cpuUsage()
      await fn()
      const u = process.cpuUsage(u0)
      await control('-i', 'off')
      await control('-d', name)
      console.error(`${name}: ${(((u.user + u.system) / 1000) * (1000 / n)).toFixed(0)} ms CPU per 1,000 texts (under callgrind)`)
      return
    }
    const args = process.env.PROFILE_SYSCALLS
      ? ['trace', '-s', '-p', String(process.pid), '-o', `${out}-${name}.syscalls`]
      : process.env.PROFILE_STAT
      ? ['stat', '-e', process.env.PROFILE_STAT_EVENTS || 'instructions:u,instructions:k', '-p', String(process.pid), '-o', `${out}-${name}.stat`]
      : ['record', '--call-graph', graph, ...(process.env.PROFILE_EVENT ? ['-e', process.env.PROFILE_EVENT] : ['-F', process.env.PROFILE_FREQ || '499']), '-p', String(process.pid), '-o', `${out}-${name}.data`]
    const perf = spawn('perf', args, {
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    await new Promise((r) => setTimeout(r, 1000))
    const s0 = threadSwitches()
    const u0 = process.cpuUsage()
    await fn()
    const u = process.cpuUsage(u0)
    const s1 = threadSwitches()
    perf.kill('SIGINT')
    await new Promise((r) => perf.once('exit', r))
    console.error(`${name}: ${(((u.user + u.system) / 1000) * (1000 / n)).toFixed(0)} ms CPU per 1,000 texts (user ${((u.user / 1000) * (1000 / n)).toFixed(0)}, system ${((u.system / 1000) * (1000 / n)).toFixed(0)})`)
    // Each thread's voluntary context switches (sleeps) per text, the wake-ups a text costs,
    // and its CPU per text.
    const per = [...s1]
      .map(([t, c]) => {
        const was = s0.get(t) ?? { n: 0, ns: 0 }
        return { t, sleeps: (c.n - was.n) / n, us: (c.ns - was.ns) / 1000 / n }
      })
      .filter((x) => x.sleeps >= 0.005 || x.us >= 0.5)
    console.error(`${name}: sleeps per text by thread: ${per.map((x) => `${x.t} ${x.sleeps.toFixed(2)}`).join(', ')}`)
    console.error(`${name}: CPU per text by thread: ${per.map((x) => `${x.t} ${x.us.toFixed(1)} us`).join(', ')}`)
  }
  // PROFILE_WARMUP=N: N texts each way first, outside the profiles (a running bot's steady
  // state, without the first texts' compiling and first touches).
  const warm = Number(process.env.PROFILE_WARMUP || 0)
  if (warm > 0) {
    await first.waitAll(await phone.sendTexts(me, { prefix: 'warm ', count: warm, inFlight: flight, receiptFrom: first.sock.user.id }))
    await inFlight(warm, flight, (i) => first.sock.sendMessage(phone.jid, { text: `warm ${i}` }))
    await phone.waitForInbox(warm, { timeoutMs: 300_000 })
  }
  await profile('recv', async () => {
    // In flight: sent by the phone and not yet confirmed by our device's delivery receipt.
    const ids = await phone.sendTexts(me, { prefix: 'in ', count: n, inFlight: flight, receiptFrom: first.sock.user.id })
    await first.waitAll(ids)
  })
  await profile('send', async () => {
    await inFlight(n, flight, (i) => first.sock.sendMessage(phone.jid, { text: `out ${i}` }))
    await phone.waitForInbox(warm + n, { timeoutMs: 300_000 })
  })
} else {
  console.error('usage: profile.mjs idle N | cpu N OUT')
}
server.stop()
process.exit(0)
