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

test('the checker really checks: a wrong use is refused', async () => {
  const { mkdtempSync, writeFileSync, rmSync, copyFileSync } = await import('node:fs')
  const dir = mkdtempSync(join(root, '__test__/fixtures/typings/.neg-'))
  try {
    writeFileSync(join(dir, 'bad.mts'), "import { jidNormalizedUser } from 'baileys-native'\nconst n: number = jidNormalizedUser('1@s.whatsapp.net')\nconsole.log(n)\n")
    copyFileSync(join(root, '__test__/fixtures/typings/tsconfig.json'), join(dir, 'tsconfig.json'))
    const cfg = join(dir, 'tsconfig.json')
    writeFileSync(cfg, readJson(cfg).replace('"bot.mts"', '"bad.mts"').replace('../../../node_modules', '../../../../node_modules'))
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
    assert.notEqual(r.status, 0)
    assert.match(r.stdout + r.stderr, /TS2322/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  function readJson(p) {
    return createRequire(import.meta.url)('node:fs').readFileSync(p, 'utf8')
  }
})
