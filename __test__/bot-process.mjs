// One incarnation of the bot in fixtures/inbox-bot.mjs, in its own process, for the tests that
// kill it (inbox-crash, client-store-servers): its JSON lines as they come, waits on them, and
// SIGKILL. `run` collects across incarnations: `run.incarnations`, and `run.got` every message
// the bot's app saw with the incarnation that saw it.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BOT = fileURLToPath(new URL('./fixtures/inbox-bot.mjs', import.meta.url))

export class Incarnation {
  /** `run`: { kind, dir, incarnations, got, server, rootHex, env? }; `crashAt`: a kill point. */
  constructor(run, crashAt) {
    this.run = run
    this.index = run.incarnations.length
    this.crashAt = crashAt
    this.lines = []
    this.waiters = []
    const env = { ...process.env, ...run.env }
    delete env.BAILEYS_NATIVE_TEST_CRASH_AT
    if (crashAt) env.BAILEYS_NATIVE_TEST_CRASH_AT = crashAt
    this.proc = spawn(process.execPath, [BOT, run.server.url, run.rootHex, run.kind, run.dir], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    this.stderr = ''
    this.proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000)
    })
    let buf = ''
    this.proc.stdout.on('data', (d) => {
      buf += d
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
        this.lines.push(line)
        if (line.got) run.got.push({ ...line, incarnation: this.index })
        this.waiters = this.waiters.filter((w) => !w(line))
      }
    })
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })))
    run.incarnations.push(this)
  }

  /** Resolves with the first line (already printed or later) that `pred` accepts, or null. */
  wait(pred, timeoutMs) {
    const seen = this.lines.find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check)
        resolve(null)
      }, timeoutMs)
      const check = (line) => {
        if (!pred(line)) return false
        clearTimeout(t)
        resolve(line)
        return true
      }
      this.waiters.push(check)
      this.exited.then(() => {
        clearTimeout(t)
        resolve(this.lines.find(pred) ?? null)
      })
    })
  }

  send(cmd) {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n')
  }

  async kill() {
    this.proc.kill('SIGKILL')
    return this.exited
  }
}
