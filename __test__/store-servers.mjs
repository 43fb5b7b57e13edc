// The real servers of the storage tests (PostgreSQL, moto's S3) on 127.0.0.1: the ones
// .ci/run started (WA_TEST_PG_URL / WA_TEST_S3_ENDPOINT), or started here by
// __test__/store-servers.sh and stopped when the process exits. A missing server fails
// the test run; nothing skips.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const script = join(dirname(fileURLToPath(import.meta.url)), 'store-servers.sh')

/**
 * `own`: servers of this process's own even when .ci/run started shared ones, for tests that
 * restart or stop them (WA_TEST_PG_DATA / WA_TEST_PG_BIN, WA_TEST_S3_PID in the result).
 */
export function startServers(which = 'all', { own = false } = {}) {
  const env = {}
  if (!own) for (const [k, v] of Object.entries(process.env)) if (k.startsWith('WA_TEST_') && v) env[k] = v
  const needPg = which !== 's3' && !env.WA_TEST_PG_URL
  const needS3 = which !== 'pg' && !env.WA_TEST_S3_ENDPOINT
  if (!needPg && !needS3) return env
  const dir = mkdtempSync(join(tmpdir(), 'wa-store-servers-'))
  const out = execFileSync('bash', [script, 'start', dir, needPg && needS3 ? 'all' : needPg ? 'pg' : 's3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  for (const line of out.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1)
  }
  process.on('exit', () => {
    try {
      execFileSync('bash', [script, 'stop', dir], { stdio: 'ignore' })
    } catch {}
  })
  return env
}

/** Creates a bucket on the S3 test server (moto takes unsigned requests). */
export async function createBucket(endpoint, bucket) {
  const res = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' })
  if (!res.ok) throw new Error(`create bucket ${bucket}: HTTP ${res.status}`)
}

export const s3Credentials = { region: 'us-east-1', accessKeyId: 'testing', secretAccessKey: 'testing' }

/** Restarts the PostgreSQL server of `startServers(..., { own: true })` (fast shutdown); resolves when it is back. */
export function restartPostgres(env) {
  const ctl = `${env.WA_TEST_PG_BIN}/pg_ctl`
  const args = ['-D', env.WA_TEST_PG_DATA, '-m', 'fast', '-w', 'restart']
  const [cmd, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', ctl, ...args]] : [ctl, args]
  // Not execFile: the restarted server inherits pg_ctl's output, so a pipe would never close.
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: 'ignore' })
    p.on('error', reject)
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl restart exited with ${code}`))))
  })
}

/** Stops (SIGSTOP) or resumes (SIGCONT) the S3 server of `startServers(..., { own: true })`. */
export function pauseS3(env, paused) {
  process.kill(Number(env.WA_TEST_S3_PID), paused ? 'SIGSTOP' : 'SIGCONT')
}
