// Server engines, native vs JavaScript: our PostgresEngine (tokio-postgres, pooled) next to
// the same engine written in JavaScript over `pg`, and our S3Engine (object_store) next to
// one over the AWS SDK for JavaScript (@aws-sdk/client-s3), both JavaScript engines called
// through our bridge (Rust calls them back, as the socket does). Same servers, same data,
// one run. A measurement, not a test. Servers: the ones in WA_TEST_PG_URL /
// WA_TEST_S3_ENDPOINT, else started here (__test__/store-servers.sh) on 127.0.0.1.
//
// Note: the S3 server here is moto (Python, one thread): it bounds both S3 columns at a
// few hundred requests/s; the ratio is what the clients add on top of the same server.
import pg from 'pg'
import { S3Client, GetObjectCommand, PutObjectCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import * as ours from '../index.js'
import { startServers, createBucket, s3Credentials } from '../__test__/store-servers.mjs'

const servers = startServers('all')
const pgUrl = servers.WA_TEST_PG_URL
const s3 = servers.WA_TEST_S3_ENDPOINT
await createBucket(s3, 'bench')
const run = `${process.pid}-${Date.now()}`

const split = (p) => {
  const i = p.lastIndexOf('/')
  return i < 0 ? ['', p] : [p.slice(0, i), p.slice(i + 1)]
}

// The PostgreSQL engine in JavaScript: the same table shape and queries as ours.
class PgJsEngine extends ours.Engine {
  constructor(pool, prefix) {
    super()
    this.pool = pool
    this.prefix = prefix
  }
  async get(path) {
    const [parent, name] = split(path)
    const r = await this.pool.query('SELECT value FROM js_entries WHERE prefix = $1 AND parent = $2 AND name = $3', [this.prefix, parent, name])
    return r.rows[0]?.value ?? null
  }
  async getMany(paths) {
    const keys = paths.map(split)
    const r = await this.pool.query(
      'SELECT e.parent, e.name, e.value FROM js_entries e JOIN unnest($2::text[], $3::text[]) AS k(parent, name) ON e.parent = k.parent AND e.name = k.name WHERE e.prefix = $1',
      [this.prefix, keys.map((k) => k[0]), keys.map((k) => k[1])],
    )
    const found = new Map(r.rows.map((row) => [`${row.parent}/${row.name}`, row.value]))
    return paths.map((p) => found.get(p) ?? null)
  }
  async set(path, value) {
    const [parent, name] = split(path)
    if (value === null) await this.pool.query('DELETE FROM js_entries WHERE prefix = $1 AND parent = $2 AND name = $3', [this.prefix, parent, name])
    else await this.pool.query('INSERT INTO js_entries (prefix, parent, name, value) VALUES ($1, $2, $3, $4) ON CONFLICT (prefix, parent, name) DO UPDATE SET value = EXCLUDED.value', [this.prefix, parent, name, value])
    return true
  }
  async setMany(writes) {
    const c = await this.pool.connect()
    try {
      await c.query('BEGIN')
      const puts = writes.filter((w) => w.value !== null).map((w) => [...split(w.path), JSON.stringify(w.value)])
      if (puts.length) {
        await c.query(
          'INSERT INTO js_entries (prefix, parent, name, value) SELECT $1, p, n, v::jsonb FROM unnest($2::text[], $3::text[], $4::text[]) AS t(p, n, v) ON CONFLICT (prefix, parent, name) DO UPDATE SET value = EXCLUDED.value',
          [this.prefix, puts.map((x) => x[0]), puts.map((x) => x[1]), puts.map((x) => x[2])],
        )
      }
      for (const w of writes.filter((x) => x.value === null)) {
        const [parent, name] = split(w.path)
        await c.query('DELETE FROM js_entries WHERE prefix = $1 AND parent = $2 AND name = $3', [this.prefix, parent, name])
      }
      await c.query('COMMIT')
    } catch (err) {
      await c.query('ROLLBACK')
      throw err
    } finally {
      c.release()
    }
    return true
  }
  async list(prefix, offset = 0, limit = 50) {
    const r = await this.pool.query('SELECT name FROM js_entries WHERE prefix = $1 AND parent = $2 ORDER BY name LIMIT $3 OFFSET $4', [this.prefix, prefix, limit, offset])
    return r.rows.map((row) => `${prefix}/${row.name}`)
  }
}

// The S3 engine in JavaScript over the AWS SDK: the same key layout as ours.
class S3JsEngine extends ours.Engine {
  constructor(prefix) {
    super()
    this.prefix = prefix
    this.client = new S3Client({ endpoint: s3, forcePathStyle: true, region: s3Credentials.region, credentials: { accessKeyId: s3Credentials.accessKeyId, secretAccessKey: s3Credentials.secretAccessKey } })
  }
  async get(path) {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: 'bench', Key: `${this.prefix}/${path}` }))
      return JSON.parse(await r.Body.transformToString())
    } catch (err) {
      if (err.name === 'NoSuchKey') return null
      throw err
    }
  }
  async set(path, value) {
    const Key = `${this.prefix}/${path}`
    if (value === null) await this.client.send(new DeleteObjectCommand({ Bucket: 'bench', Key }))
    else await this.client.send(new PutObjectCommand({ Bucket: 'bench', Key, Body: JSON.stringify(value), ContentType: 'application/json' }))
    return true
  }
  async list(prefix, offset = 0, limit = 50) {
    const out = []
    let token
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: `${this.prefix}/${prefix}/`, Delimiter: '/', ContinuationToken: token }))
      for (const o of r.Contents ?? []) out.push(o.Key.slice(this.prefix.length + 1))
      token = r.NextContinuationToken
    } while (token)
    return out.sort().slice(offset, offset + limit)
  }
}

const session = (i) => ({ _sessions: { [`base-${i}`]: { registrationId: i, currentRatchet: { rootKey: Buffer.alloc(32, i % 256), ephemeralKeyPair: { pubKey: Buffer.alloc(33, 5), privKey: Buffer.alloc(32, 6) } } } }, version: 'v1' })

async function time(n, fn, concurrency = 1) {
  let next = 0
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++)
  }))
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

async function measure(engine, n) {
  const r = {}
  r['set (one at a time)'] = await time(n, (i) => engine.set(`session/signal/session/${i}.0`, session(i)))
  r['get (one at a time)'] = await time(n, (i) => engine.get(`session/signal/session/${i}.0`))
  r['set, 16 in flight'] = await time(n, (i) => engine.set(`contact/${i}@s.whatsapp.net`, { id: `${i}@s.whatsapp.net`, name: `n${i}` }), 16)
  r['get, 16 in flight'] = await time(n, (i) => engine.get(`contact/${i}@s.whatsapp.net`), 16)
  const batches = Math.max(2, Math.floor(n / 100))
  r['batch of 100 (entries/s)'] = (await time(batches, (b) => engine.setMany(Array.from({ length: 100 }, (_, i) => ({ path: `chat/c@g.us/message/B${b}-${i}`, value: { b, i, text: 'hello ✓' } }))))) * 100
  r['list page of 50'] = await time(Math.max(5, Math.floor(n / 20)), (i) => engine.list('contact', (i * 50) % n, 50))
  r['content 64 KB set+get'] = await time(Math.max(5, Math.floor(n / 10)), async (i) => {
    await engine.set(`chat/c@g.us/message/C${i}/content`, Buffer.alloc(65536, i % 256))
    await engine.get(`chat/c@g.us/message/C${i}/content`)
  })
  return r
}

const admin = new pg.Pool({ connectionString: pgUrl, max: 8 })
await admin.query('CREATE TABLE IF NOT EXISTS js_entries (prefix text COLLATE "C" NOT NULL, parent text COLLATE "C" NOT NULL, name text COLLATE "C" NOT NULL, value jsonb NOT NULL, PRIMARY KEY (prefix, parent, name))')

const rows = []
const report = (name, native, js) => {
  console.log(`\n${name}`)
  console.log('| operation | native (ops/s) | JavaScript via bridge (ops/s) | native / JS |')
  console.log('|---|---:|---:|---:|')
  for (const k of Object.keys(native)) {
    console.log(`| ${k} | ${native[k].toFixed(0)} | ${js[k].toFixed(0)} | ${(native[k] / js[k]).toFixed(2)}x |`)
    rows.push({ engine: name, op: k, native: native[k], js: js[k] })
  }
}

const PG_N = Number(process.env.BENCH_PG_N ?? 2000)
const S3_N = Number(process.env.BENCH_S3_N ?? 300)
const pgNative = await measure(new ours.PostgresEngine(pgUrl, { prefix: `bench-native-${run}` }), PG_N)
const pgJs = await measure(ours.bridgeEngine(new PgJsEngine(admin, `bench-js-${run}`)), PG_N)
report(`PostgreSQL (${PG_N} ops per row)`, pgNative, pgJs)
const s3Native = await measure(new ours.S3Engine({ bucket: 'bench', prefix: `native-${run}`, endpoint: s3, forcePathStyle: true, credentials: s3Credentials }), S3_N)
const s3Js = await measure(ours.bridgeEngine(new S3JsEngine(`js-${run}`)), S3_N)
report(`S3 on moto (${S3_N} ops per row)`, s3Native, s3Js)
await admin.end()
if (process.env.BENCH_JSON) console.log(JSON.stringify(rows))
process.exit(0)
