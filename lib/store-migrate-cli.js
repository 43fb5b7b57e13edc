'use strict'
// `npx baileys-native migrate FROM TO [--state FILE] [--batch N] [--json]`: copies an
// account between any two engines, resumable, verified by count and checksum; the source
// is only read. Engines are named by URI (docs/storage.md):
//   baileys:DIR            a Baileys auth folder (creds and keys in Baileys' files)
//   file:DIR               our file engine
//   sqlite:FILE            our SQLite engine
//   postgres://...         PostgreSQL (?prefix=ACCOUNT selects the account; default .baileys/default)
//   s3://BUCKET/PREFIX     S3 (?endpoint=URL&forcePathStyle=true&region=R; credentials from the AWS env)
//   js:MODULE[#EXPORT]     your engine: the module's export (an engine, its class, or a function returning one)
const path = require('node:path')
const crypto = require('node:crypto')
const store = require('./store.js')

const HELP = `usage: baileys-native migrate FROM TO [--state FILE] [--batch N] [--json]

  FROM, TO     baileys:DIR | file:DIR | sqlite:FILE | postgres://...[?prefix=P]
               | s3://BUCKET/PREFIX[?endpoint=URL&forcePathStyle=true&region=R] | js:MODULE[#EXPORT]
  --state F    progress file (default .baileys-migrate-<hash>.json here); an interrupted
               migration run again resumes from it; removed once verified
  --batch N    entries per batch (default 500)
  --json       print the report as one JSON line`

function usage(msg) {
  const err = new Error(msg)
  err.code = 'ERR_WA_STORE_BAD_OPTION'
  return err
}

async function engineFromUri(uri) {
  const colon = uri.indexOf(':')
  if (colon < 1) throw usage(`not an engine URI: ${uri}`)
  const scheme = uri.slice(0, colon)
  const rest = uri.slice(colon + 1)
  switch (scheme) {
    case 'baileys':
    case 'folder':
      return new store.BaileysFolderEngine(rest)
    case 'file':
      return new store.FileEngine(rest)
    case 'sqlite':
      return new store.SqliteEngine(rest)
    case 'postgres':
    case 'postgresql': {
      const u = new URL(uri)
      const prefix = u.searchParams.get('prefix') ?? undefined
      u.searchParams.delete('prefix')
      return new store.PostgresEngine(u.toString(), prefix === undefined ? {} : { prefix })
    }
    case 's3': {
      const u = new URL(uri)
      const opts = { bucket: u.hostname }
      const prefix = decodeURIComponent(u.pathname.replace(/^\//, ''))
      if (prefix) opts.prefix = prefix
      if (u.searchParams.has('endpoint')) opts.endpoint = u.searchParams.get('endpoint')
      if (u.searchParams.has('forcePathStyle')) opts.forcePathStyle = u.searchParams.get('forcePathStyle') === 'true'
      if (u.searchParams.has('region')) opts.credentials = { region: u.searchParams.get('region') }
      return new store.S3Engine(opts)
    }
    case 'js': {
      const [mod, name] = rest.split('#')
      const m = require(path.resolve(mod))
      const exp = name ? m[name] : m.default ?? m
      if (typeof exp !== 'function') return exp
      // A class of engine is constructed; any other function returns the engine.
      return typeof exp.prototype?.get === 'function' ? new exp() : await exp()
    }
    default:
      throw usage(`unknown engine scheme ${scheme}:`)
  }
}

async function main(argv) {
  const opts = { batch: undefined, state: undefined, json: false, args: [] }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--state') opts.state = argv[++i]
    else if (a === '--batch') opts.batch = Number(argv[++i])
    else if (a === '--json') opts.json = true
    else if (a === '-h' || a === '--help') {
      console.log(HELP)
      return
    } else if (a.startsWith('--')) throw usage(`unknown option ${a}`)
    else opts.args.push(a)
  }
  if (opts.args.length !== 2) throw usage(HELP)
  if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch > 0)) throw usage('--batch must be a positive whole number')
  const [fromUri, toUri] = opts.args
  const state = opts.state ?? `.baileys-migrate-${crypto.createHash('sha256').update(`${fromUri}\0${toUri}`).digest('hex').slice(0, 12)}.json`
  const from = await engineFromUri(fromUri)
  const to = await engineFromUri(toUri)
  const report = await store.migrate(from, to, { state, batch: opts.batch })
  if (opts.json) console.log(JSON.stringify(report))
  else {
    console.log(`${report.resumed ? 'resumed; ' : ''}copied ${report.copied} entries`)
    console.log(`verified: ${report.destinationCount} entries, checksum ${report.destinationChecksum}`)
  }
}

module.exports = { main, engineFromUri, HELP }
