// Soak: 200 of our sockets log in, exchange texts and end, five rounds, in one child process
// (its RSS is theirs alone; the test server runs in a third process). With every socket ended,
// RSS after the last round must be within 10% of RSS after the first: memory that ended
// sockets keep (tasks, buffers, caches, sessions of the binding) would add up round by round.
// Each round also checks that every ended socket object was collected (a WeakRef to each): a
// socket the binding keeps alive (a callback, a task, a cycle) is found deterministically even
// when its native memory is small. Each reading waits for V8's memory reducer (~10 s a round):
// without it the JS heap's unused capacity, grown under load, decided the result. The RSS
// bound alone tolerates about 14 KB per ended connection (10% of ~110 MiB over 4 x 200).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SOCKETS = 200
const ROUNDS = 5

test(`${SOCKETS} sockets connect, exchange texts and end, ${ROUNDS} rounds: RSS after the last within 10% of after the first`, () => {
  const child = fileURLToPath(new URL('./soak-child.mjs', import.meta.url))
  const r = spawnSync(process.execPath, ['--expose-gc', child], {
    encoding: 'utf8',
    env: { ...process.env, SOAK_SOCKETS: String(SOCKETS), SOAK_ROUNDS: String(ROUNDS) },
    timeout: 240_000,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 2 ** 20,
  })
  process.stderr.write(r.stderr ?? '')
  assert.equal(r.status, 0, `soak child failed (status ${r.status}, signal ${r.signal})`)
  const { rounds } = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.equal(rounds.length, ROUNDS)
  for (const [i, round] of rounds.entries()) {
    assert.equal(round.delivered, SOCKETS, `round ${i + 1}: texts delivered`)
    assert.equal(round.alive, 0, `round ${i + 1}: ended sockets still reachable after GC`)
  }
  const first = rounds[0].rss
  const last = rounds.at(-1).rss
  console.log(
    `RSS (MiB) after each round: ${rounds.map((x) => x.rss.toFixed(1)).join(', ')}; JS heap: ${rounds.map((x) => x.heap.toFixed(1)).join(', ')}; ` +
      `last / first = ${(last / first).toFixed(3)}; round times (s): ${rounds.map((x) => (x.ms / 1000).toFixed(1)).join(', ')}`,
  )
  assert.ok(last <= first * 1.1, `RSS grew from ${first.toFixed(1)} MiB after round 1 to ${last.toFixed(1)} MiB after round ${ROUNDS}`)
})
