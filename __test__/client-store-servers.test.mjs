// A whole account on one server engine (issue 14): a bot whose auth state
// (useEngineAuthState) and socket store live on PostgreSQL, or on S3, pairs through the test
// server and takes a stream of texts from the real Baileys 7 while it is SIGKILLed and
// restarted and while its server goes away (PostgreSQL restarted; S3 stopped for 10 s). It logs
// in again each time without pairing, every text reaches its app, every message is in the
// store exactly once, a retry receipt for a message it sent before the kills is answered from
// the store, and the sessions still work both ways afterwards. Real servers, started here
// (our own, since this test restarts and stops them).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestServer } from '../lib/testing.mjs'
import * as O from '../index.mjs'
import { BaileysClient, trustServer, text, exitWhenDone, until } from './testserver-util.mjs'
import { Incarnation } from './bot-process.mjs'
import { startServers, createBucket, s3Credentials, restartPostgres, pauseS3 } from './store-servers.mjs'

const TEXTS = Number(process.env.STORE_SERVERS_TEXTS ?? 200)
const KILLS = 3

const servers = startServers('all', { own: true })
await createBucket(servers.WA_TEST_S3_ENDPOINT, 'bots')
const server = await startTestServer({ seed: 'client store servers' })
const restore = trustServer(server)
const rootHex = Buffer.from(server.rootPublicKey).toString('hex')
const scratch = mkdtempSync(join(tmpdir(), 'bn-store-servers-'))
const sender = new BaileysClient(server, 'sender')
const live = []
after(async () => {
  for (const b of live) b.proc.kill('SIGKILL')
  await sender.end()
  restore()
  await server.stop()
  rmSync(scratch, { recursive: true, force: true })
  exitWhenDone()
})
await sender.pairByQR('15557880000', 'Sender')
const senderChat = '15557880000@s.whatsapp.net'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function engineFor(kind, prefix) {
  if (kind === 'pg') return new O.PostgresEngine(servers.WA_TEST_PG_URL, { prefix })
  return new O.S3Engine({ bucket: 'bots', prefix, endpoint: servers.WA_TEST_S3_ENDPOINT, forcePathStyle: true, credentials: s3Credentials })
}

/** Baileys asks the bot's device to send `id` again, as a device that failed to decrypt it does. */
async function askRetry(id, to) {
  const reg = Buffer.alloc(4)
  reg.writeUInt32BE(sender.auth.creds.registrationId)
  await sender.sock.sendNode({
    tag: 'receipt',
    attrs: { id, type: 'retry', to },
    content: [
      { tag: 'retry', attrs: { count: '1', id, t: String(Math.floor(Date.now() / 1000)), v: '1' } },
      { tag: 'registration', attrs: {}, content: reg },
    ],
  })
}

for (const [kind, number, outage] of [
  ['pg', '15557880001', 'PostgreSQL restarted'],
  ['s3', '15557880002', 'S3 stopped for 10 s'],
]) {
  test(`${kind}: killed, restarted and cut off from its server, the bot loses nothing and forks no session`, { timeout: 300_000 }, async () => {
    const prefix = `bot-${kind}`
    const run = { kind, dir: join(scratch, prefix), incarnations: [], got: [], server, rootHex }
    run.env = { BOT_PG_URL: servers.WA_TEST_PG_URL, BOT_S3_ENDPOINT: servers.WA_TEST_S3_ENDPOINT, BOT_S3_BUCKET: 'bots' }
    const botChat = `${number}@s.whatsapp.net`
    const store = new O.Store(engineFor(kind, prefix))

    let bot = new Incarnation(run)
    live.push(bot)
    const { qr } = await bot.wait((l) => l.qr, 20_000)
    await server.scanQR(qr, { phoneNumber: number, pushName: `bot ${kind}` })
    const opened = await bot.wait((l) => l.open, 20_000)
    assert.ok(opened, `${kind}: the bot opened after pairing (${bot.stderr})`)
    const botDevice = opened.me

    // A message the bot sends before it is killed, kept in the store.
    bot.send({ send: senderChat, text: `${kind}: before the kills` })
    const { sent: early } = await bot.wait((l) => l.sent, 20_000)
    await sender.waitMessage((m) => m.key.id === early, 20_000)
    await until(async () => (await store.message(senderChat, early))?.key?.fromMe, `${kind}: the sent message in the store`, 30_000)

    // The stream, and meanwhile kills and an outage.
    const sent = []
    const streaming = (async () => {
      for (let i = 0; i < TEXTS; i++) {
        sent.push((await sender.sock.sendMessage(botChat, { text: `${kind} #${i}` })).key.id)
        await sleep(Math.floor(Math.random() * 80))
      }
    })()
    for (let k = 0; k < KILLS; k++) {
      await bot.wait((l) => l.open, 20_000)
      await sleep(200 + Math.floor(Math.random() * 600))
      await bot.kill()
      bot = new Incarnation(run)
      live.push(bot)
    }
    const back = await bot.wait((l) => l.open || l.qr, 30_000)
    assert.ok(back?.open, `${kind}: the last incarnation logged in (${JSON.stringify(back)} ${bot.stderr})`)
    // The outage, while texts are still coming.
    await until(() => sent.length >= TEXTS * 0.6, `${kind}: the stream under way`, 30_000)
    assert.ok(sent.length < TEXTS, `${kind}: the outage starts mid-stream`)
    const atOutage = sent.length
    if (kind === 'pg') await restartPostgres(servers)
    else {
      pauseS3(servers, true)
      await sleep(10_000)
      pauseS3(servers, false)
    }
    await streaming
    // Generous: after the outage the bot works through its backlog against a server that was
    // frozen; what is asserted is that nothing is lost, not how fast it comes.
    await until(() => sent.every((id) => run.got.some((g) => g.got === id)), `${kind}: every text reached the app`, 120_000).catch((e) => {
      const missing = sent.filter((id) => !run.got.some((g) => g.got === id))
      const said = run.incarnations.map((inc) => `[${inc.index}] ${String(inc.stderr).slice(-1500)}`).join('\n')
      e.message += ` (${missing.length} of ${sent.length} missing: ${missing.slice(0, 5).join(', ')}; each incarnation's stderr:\n${said})`
      throw e
    })
    for (const inc of run.incarnations.slice(1)) {
      assert.ok(!inc.lines.some((l) => l.qr), `${kind}: incarnation ${inc.index} logged in without pairing`)
    }
    assert.deepEqual(run.got.filter((g) => g.stub !== null), [], `${kind}: no undecryptable stubs`)

    // Exactly once in the store: every text, no message twice, one timeline entry each.
    const stored = await until(async () => {
      const page = await store.messages(senderChat, { limit: 1000 })
      const ids = new Set(page.map((r) => r.id))
      return sent.every((id) => ids.has(id)) ? page : null
    }, `${kind}: every text in the store`, 30_000)
    const ids = stored.map((r) => r.id)
    assert.equal(new Set(ids).size, ids.length, `${kind}: no message stored twice`)
    const timeline = await store.engine.list(`chat/${senderChat}/timestamp`, 0, 1000)
    assert.equal(timeline.length, ids.length, `${kind}: one timeline entry per message`)
    for (const r of stored.filter((r) => sent.includes(r.id))) assert.match(text(r.value), new RegExp(`^${kind} #\\d+$`))

    // The retry receipt for the message sent before the kills: only the store has it now.
    const before = sender.upserts.filter((m) => m.key.id === early).length
    await askRetry(early, botDevice)
    await until(() => sender.upserts.filter((m) => m.key.id === early).length > before, `${kind}: the early message sent again`, 30_000)
    assert.equal(text(sender.upserts.filter((m) => m.key.id === early).at(-1)), `${kind}: before the kills`)

    // No forked session: both ways still work.
    const ping = await sender.sock.sendMessage(botChat, { text: `${kind}: after everything` })
    assert.ok(await bot.wait((l) => l.got === ping.key.id, 20_000), `${kind}: the bot reads Baileys afterwards`)
    bot.send({ send: senderChat, text: `${kind}: still here` })
    assert.ok(await sender.waitMessage((m) => text(m) === `${kind}: still here`, 20_000), `${kind}: Baileys reads the bot afterwards`)
    await bot.kill()
    const deliveries = run.got.length
    console.log(`# ${kind}: ${sent.length} texts, ${run.incarnations.length} processes, ${outage} after text ${atOutage}, ${deliveries} deliveries, ${ids.length} messages stored once each`)
  })
}
