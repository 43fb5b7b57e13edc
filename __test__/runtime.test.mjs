// The addon's tokio runtime: one worker thread by default (src/runtime.rs says why), as many
// as TOKIO_WORKER_THREADS asks for. Counted from the thread names Linux reports for a fresh
// process that imported the package.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const index = fileURLToPath(new URL('../index.mjs', import.meta.url))
const linuxOnly = process.platform !== 'linux' && 'thread names are read from /proc'

function workersIn(env) {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs'
    await import(${JSON.stringify(index)})
    const names = readdirSync('/proc/self/task').map((t) => readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim())
    console.log(JSON.stringify(names))`
  const env2 = { ...process.env, ...env }
  if (env.TOKIO_WORKER_THREADS === undefined) delete env2.TOKIO_WORKER_THREADS
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: env2, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const names = JSON.parse(r.stdout.trim().split('\n').pop())
  // tokio names its workers "tokio-rt-worker" (older releases "tokio-runtime-worker", which
  // Linux cuts to 15 bytes); its blocking pool starts only when used.
  return names.filter((n) => /^tokio-(rt|runtime)-w/.test(n)).length
}

test('one tokio worker thread unless TOKIO_WORKER_THREADS says otherwise', { skip: linuxOnly }, () => {
  assert.equal(workersIn({}), 1)
  assert.equal(workersIn({ TOKIO_WORKER_THREADS: '3' }), 3)
  // A value that is not a thread count keeps the default (tokio itself would panic on it).
  assert.equal(workersIn({ TOKIO_WORKER_THREADS: 'many' }), 1)
  assert.equal(workersIn({ TOKIO_WORKER_THREADS: '0' }), 1)
})
