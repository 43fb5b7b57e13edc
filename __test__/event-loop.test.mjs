// The socket on Node's thread (src/event_loop.rs) against the fallback on tokio's worker
// (BAILEYS_NATIVE_EVENT_LOOP=0): both move every text in order; on Node's thread a text wakes
// no tokio thread, on the worker each costs it at least one wake-up (so the count below tells
// the two apart, and the first test would fail if sockets silently fell back). The fallback
// stays proved against the real Baileys by running the interop tests under it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

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
