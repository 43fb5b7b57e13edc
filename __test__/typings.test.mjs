// The generated index.d.ts type-checks a Baileys-style bot file (tsc --noEmit, strict).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc')

test('a Baileys-style bot file type-checks against index.d.ts', () => {
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, '__test__/fixtures/typings')], { encoding: 'utf8' })
  assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`)
})

// Each case must be refused with the given TypeScript error.
const WRONG = [
  ['a string is not a number', "import { jidNormalizedUser } from 'baileys-native'\nconst n: number = jidNormalizedUser('1@s.whatsapp.net')\nconsole.log(n)\n", /TS2322/],
  ['makeWASocket needs auth', "import makeWASocket from 'baileys-native'\nmakeWASocket({ browser: ['a', 'b', 'c'] })\n", /TS2741/],
  ['baileys-native/testing is typed (through baileys-native-testing)', "import { startTestServer } from 'baileys-native/testing'\nconst s = await startTestServer()\nconst port: string = s.port\nconsole.log(port)\n", /TS2322/],
  ['sendMessage takes a jid first', "import makeWASocket, { initAuthCreds } from 'baileys-native'\nconst s = makeWASocket({ auth: { creds: initAuthCreds(), keys: { get: async () => ({}), set: async () => {} } } })\nvoid s.sendMessage({ text: 'x' })\n", /TS2554|TS2345/],
  ['sendPresenceUpdate takes only WAPresence', "import makeWASocket, { initAuthCreds } from 'baileys-native'\nconst s = makeWASocket({ auth: { creds: initAuthCreds(), keys: { get: async () => ({}), set: async () => {} } } })\nvoid s.sendPresenceUpdate('typing', '1@s.whatsapp.net')\n", /TS2345/],
]

for (const [name, source, code] of WRONG) {
  test(`the checker really checks: ${name}`, async () => {
    const { mkdtempSync, writeFileSync, rmSync, readFileSync } = await import('node:fs')
    const dir = mkdtempSync(join(root, '__test__/fixtures/typings/.neg-'))
    try {
      writeFileSync(join(dir, 'bad.mts'), source)
      const cfg = readFileSync(join(root, '__test__/fixtures/typings/tsconfig.json'), 'utf8')
      writeFileSync(join(dir, 'tsconfig.json'), cfg.replace('"bot.mts"', '"bad.mts"').replace('../../../node_modules', '../../../../node_modules'))
      const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
      assert.notEqual(r.status, 0, 'tsc accepted a wrong use')
      assert.match(r.stdout + r.stderr, code)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
