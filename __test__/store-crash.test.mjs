// Our useMultiFileAuthState killed with SIGKILL in the middle of writing, with the real
// Baileys on the same folder: right after the kill Baileys reads every acknowledged key
// (every file whole); Baileys may write before we open again, and what it wrote stands;
// our open finishes any batch the kill interrupted; Baileys then reads what we read.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as baileys from '@whiskeysockets/baileys'

const tmp = mkdtempSync(join(tmpdir(), 'wa-store-crash-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
const child = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-crash-child.mjs')
const IDS = ['a0.0', 'a1.0', 'a2.0', 'a3.0', 'a4.0']
const ROUNDS = 10

// Runs the writer until it has acknowledged a few batches, then kills it at a random moment.
function writeAndKill(folder, durability) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, 'write', folder, durability], { stdio: ['ignore', 'pipe', 'inherit'] })
    let acked = 0
    let buf = ''
    let killAt = null
    p.stdout.on('data', (d) => {
      buf += d
      const lines = buf.split('\n')
      buf = lines.pop()
      for (const l of lines) if (/^\d+$/.test(l)) acked = Number(l)
      if (acked > 0 && killAt === null) {
        killAt = setTimeout(() => p.kill('SIGKILL'), Math.floor(Math.random() * 40))
      }
    })
    p.on('error', reject)
    p.on('exit', (code, signal) => resolve({ acked, signal, code }))
  })
}

function readWithOurs(folder) {
  const r = spawnSync(process.execPath, [child, 'read', folder], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout, baileys.BufferJSON.reviver)
}

test('SIGKILL while writing: Baileys reads the folder at once, and ours finishes the interrupted batch', async () => {
  let killed = 0
  let baileysWrote = 0
  for (let round = 0; round < ROUNDS; round++) {
    const folder = join(tmp, 'auth')
    const durability = round % 2 ? 'process' : 'full'
    const { acked, signal } = await writeAndKill(folder, durability)
    assert.equal(signal, 'SIGKILL', `round ${round}: the writer was killed while running`)
    killed++

    // Straight after the kill, before we open it again: a valid Baileys folder.
    const b = await baileys.useMultiFileAuthState(folder)
    const sessions = await b.state.keys.get('session', IDS)
    const { meta } = await b.state.keys.get('app-state-sync-version', ['meta'])
    assert.ok(meta && meta.batch >= acked, `round ${round}: acknowledged batch ${acked} is in the folder (meta ${meta?.batch})`)
    for (const id of IDS) {
      assert.ok(sessions[id], `round ${round}: ${id} reads (no torn file)`)
      assert.ok(sessions[id].batch >= acked, `round ${round}: ${id} holds batch ${sessions[id].batch} < acknowledged ${acked}`)
    }

    // Half the time Baileys writes before we come back; that session must stay as it wrote it.
    const baileysTurn = round % 4 < 2
    if (baileysTurn) {
      await b.state.keys.set({ session: { 'a0.0': { batch: 'baileys', round } } })
      baileysWrote++
    }

    const mine = readWithOurs(folder)
    const batches = new Set([mine.meta.batch, ...IDS.filter((id) => !(baileysTurn && id === 'a0.0')).map((id) => mine.sessions[id].batch)])
    assert.equal(batches.size, 1, `round ${round}: one whole batch, not parts of two (${[...batches]})`)
    assert.ok(mine.meta.batch >= acked)
    if (baileysTurn) assert.deepEqual(mine.sessions['a0.0'], { batch: 'baileys', round }, `round ${round}: Baileys' write stands`)
    IDS.forEach((id, j) => {
      if (baileysTurn && id === 'a0.0') return
      assert.deepEqual(mine.sessions[id].key, Buffer.from([mine.meta.batch & 255, j]), `round ${round}: ${id} bytes`)
    })

    // And the real Baileys reads exactly what we read.
    const b2 = await baileys.useMultiFileAuthState(folder)
    assert.deepEqual(await b2.state.keys.get('session', IDS), mine.sessions)
  }
  assert.equal(killed, ROUNDS)
  assert.ok(baileysWrote > 0)
})
