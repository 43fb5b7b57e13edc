// The docs name only files that exist: every repository path written in backticks or as a
// link in README.md and docs/*.md (crates/..., src/..., lib/..., scripts/..., __test__/...,
// benchmark/..., docs/..., proto/..., bin/...) must be there.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const TOP = ['crates', 'src', 'lib', 'scripts', '__test__', 'benchmark', 'docs', 'proto', 'bin', 'fuzz', 'npm']
const PATH = new RegExp(`(?:\`|\\]\\()((?:\\.\\./)?(?:${TOP.join('|')})/[A-Za-z0-9_./*{}-]+)`, 'g')

test('every path the docs name exists', () => {
  const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  const missing = []
  let checked = 0
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8')
    for (const m of text.matchAll(PATH)) {
      let p = m[1].replace(/^\.\.\//, '').replace(/[.,:;)]+$/, '')
      // Globs and brace patterns name families of files: check the directory before them.
      const wild = p.search(/[*{]/)
      if (wild >= 0) p = p.slice(0, p.lastIndexOf('/', wild))
      checked++
      if (!existsSync(join(root, p))) missing.push(`${doc}: ${m[1]}`)
    }
  }
  assert.ok(checked > 20, `only ${checked} paths found: the pattern is broken`)
  assert.deepEqual(missing, [])
})
