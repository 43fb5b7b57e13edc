// Our auth folder under our Signal repository, talking to Baileys' repository: the layers that
// a switching user combines first (useMultiFileAuthState + makeLibSignalRepository).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ours, party, bundleOf, silent } from './signal-util.mjs'

test('makeLibSignalRepository over our useMultiFileAuthState converses with Baileys and survives a reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bn-store-signal-'))
  try {
    const aliceJid = '111@s.whatsapp.net'
    const first = await ours.useMultiFileAuthState(dir)
    await first.saveCreds()
    const alice = { jid: aliceJid, repo: ours.makeLibSignalRepository(first.state, silent) }
    const bob = await party('baileys', '222@s.whatsapp.net')

    await alice.repo.injectE2ESession({ jid: bob.jid, session: await bundleOf(bob.auth, 1) })
    for (let i = 0; i < 3; i++) {
      const m = await alice.repo.encryptMessage({ jid: bob.jid, data: Buffer.from(`a${i}`) })
      const plain = await bob.repo.decryptMessage({ jid: aliceJid, type: m.type, ciphertext: m.ciphertext })
      assert.equal(Buffer.from(plain).toString(), `a${i}`)
    }
    const reply = await bob.repo.encryptMessage({ jid: aliceJid, data: Buffer.from('b0') })
    const got = await alice.repo.decryptMessage({ jid: bob.jid, type: reply.type, ciphertext: reply.ciphertext })
    assert.equal(Buffer.from(got).toString(), 'b0')
    assert.ok(readdirSync(dir).some((f) => f.startsWith('session-')), 'the session is a Baileys session-*.json file')

    // A new process: the same folder, a new repository, the conversation goes on.
    const second = await ours.useMultiFileAuthState(dir)
    const again = ours.makeLibSignalRepository(second.state, silent)
    const m = await again.encryptMessage({ jid: bob.jid, data: Buffer.from('after reopen') })
    assert.equal(m.type, 'msg')
    const plain = await bob.repo.decryptMessage({ jid: aliceJid, type: m.type, ciphertext: m.ciphertext })
    assert.equal(Buffer.from(plain).toString(), 'after reopen')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
