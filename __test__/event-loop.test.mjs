// The socket on Node's thread (src/event_loop.rs) against the fallback on tokio's worker
// (BAILEYS_NATIVE_EVENT_LOOP=0): both move every text in order; on Node's thread a text wakes
// no tokio thread, on the worker each costs it at least one wake-up (so the count below tells
// the two apart, and the first test would fail if sockets silently fell back). The fallback
// stays proved against the real Baileys by running the interop tests under it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { remoteServer } from './remote-server.mjs'

const child = fileURLToPath(new URL('./event-loop-child.mjs', import.meta.url))

function run(env) {
  const r = spawnSync(process.execPath, [child], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
  })
  assert.equal(r.status, 0, `child failed (${r.status} ${r.signal}):\n${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const expect = (prefix) => Array.from({ length: 200 }, (_, i) => `${prefix}${i}`)

test('on Node\'s thread texts wake no tokio thread; on the fallback each wakes one', { timeout: 600_000 }, () => {
  const onLoop = run({})
  const onWorker = run({ BAILEYS_NATIVE_EVENT_LOOP: '0' })
  for (const r of [onLoop, onWorker]) {
    assert.deepEqual(r.received, expect('in '))
    assert.deepEqual(r.inbox, expect('out '))
  }
  assert.ok(onLoop.recvSleeps < 0.25, `received on Node's thread: ${onLoop.recvSleeps} tokio sleeps per text`)
  assert.ok(onLoop.sendSleeps < 0.25, `sent on Node's thread: ${onLoop.sendSleeps} tokio sleeps per text`)
  assert.ok(onWorker.recvSleeps >= 0.75, `received on the worker: ${onWorker.recvSleeps} tokio sleeps per text`)
  assert.ok(onWorker.sendSleeps >= 0.75, `sent on the worker: ${onWorker.sendSleeps} tokio sleeps per text`)
})

test('with BAILEYS_NATIVE_EVENT_LOOP=0 the real-Baileys interop tests pass on tokio\'s worker', { timeout: 600_000 }, () => {
  const files = ['client-testserver.test.mjs', 'client-order.test.mjs'].map((f) =>
    fileURLToPath(new URL(`./${f}`, import.meta.url)),
  )
  // A test runner's child reports to its parent over a private channel: this one is a
  // runner of its own, printing TAP.
  const env = { ...process.env, BAILEYS_NATIVE_EVENT_LOOP: '0' }
  delete env.NODE_TEST_CONTEXT
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', '--test-concurrency=1', ...files], {
    encoding: 'utf8',
    env,
    timeout: 540_000,
  })
  assert.equal(r.status, 0, `interop tests failed on the fallback:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`)
  assert.match(r.stdout, /^# fail 0$/m)
  assert.match(r.stdout, /^# pass [1-9]\d*$/m)
})

// A socket made in a worker thread runs on that worker's loop: it pairs, moves texts both ways
// and, once ended, lets the worker exit by itself; a worker terminated with its socket still
// connected takes the socket down with it (the environment's cleanup closes libuv's handles)
// and leaves the process and the next worker's socket unharmed.
test('sockets in worker threads: on their own loop, ended cleanly or terminated', { timeout: 300_000 }, async () => {
  const server = await remoteServer('event-loop-workers')
  try {
    const run = async (number, { stay }) => {
      const phone = server.phone(`1555620100${number}`)
      // The server makes a phone's account on its first command: before the worker's sends
      // look its devices up.
      assert.deepEqual(await phone.inbox(), [])
      const worker = new Worker(new URL('./event-loop-worker.mjs', import.meta.url), {
        workerData: { url: server.url, rootPublicKey: server.rootPublicKey, phone: phone.jid, count: 20, stay },
      })
      const exited = new Promise((resolve) => worker.once('exit', resolve))
      const messages = []
      let wake = null
      worker.on('message', (m) => {
        messages.push(m)
        wake?.()
      })
      worker.on('error', (e) => {
        messages.push({ error: String(e?.stack ?? e) })
        wake?.()
      })
      const next = async (key) => {
        for (;;) {
          const m = messages.shift()
          if (m) {
            assert.ok(!m.error, m.error)
            assert.ok(key in m, `expected ${key}, got ${JSON.stringify(m)}`)
            return m[key]
          }
          await new Promise((r) => (wake = r))
        }
      }
      await server.scanQR(await next('qr'), { phoneNumber: `1555620000${number}` })
      const me = (await next('open')).replace(/:\d+@/, '@')
      await phone.waitForInbox(20, { timeoutMs: 60_000 })
      assert.deepEqual(
        (await phone.inbox()).map((m) => m.message?.conversation ?? m.message?.extendedTextMessage?.text),
        Array.from({ length: 20 }, (_, i) => `from the worker ${i}`),
      )
      await phone.sendTexts(me, { prefix: 'to the worker ', count: 20 })
      assert.deepEqual(await next('received'), Array.from({ length: 20 }, (_, i) => `to the worker ${i}`))
      if (stay) {
        await worker.terminate()
      } else {
        assert.equal(await next('closed'), true)
      }
      return exited
    }
    assert.equal(await run(1, { stay: false }), 0, 'the worker exits by itself once its socket ended')
    await run(2, { stay: true })
    assert.equal(await run(3, { stay: false }), 0, 'a later worker is unharmed by the terminated one')
  } finally {
    server.stop()
  }
})
