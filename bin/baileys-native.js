#!/usr/bin/env node
'use strict'
// baileys-native command line.
//
//   npx baileys-native test-server [--port 0] [--seed TEXT] [--json]
//
// Starts the local WhatsApp-protocol server, prints its URL and root public key, and serves
// until SIGINT/SIGTERM or stdin closes with `--stdin-control`. With --stdin-control, each
// stdin line is a JSON command ({"id":1,"cmd":"scanQR","qr":"...","phoneNumber":"..."}) and
// each result one stdout line ({"id":1,"ok":true,"result":...}).

const HELP = `usage: baileys-native test-server [--port N] [--seed TEXT] [--json] [--stdin-control]

  --port N          port on 127.0.0.1 (0, the default, picks a free one)
  --seed TEXT       derive every key from TEXT, so the root key is the same each run
  --json            print {"url","rootPublicKey","mediaHost","mediaCaPem"} as one JSON line
  --stdin-control   read JSON commands from stdin: scanQR, enterPairingCode, sendText,
                    sendTexts, sendMessage, setMediaRetryAnswer, inbox, waitForInbox, receipts,
                    devices, stats,
                    dropConnection, streamError, refuseLogins, removeDevice, delayFrames,
                    mediaExpire, mediaCorrupt, mediaFile, mediaPut, mediaCount, seedAccounts,
                    stop`

function parse(argv) {
  const opts = { port: 0, json: false, control: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--port') opts.port = Number(argv[++i])
    else if (a.startsWith('--port=')) opts.port = Number(a.slice(7))
    else if (a === '--seed') opts.seed = argv[++i]
    else if (a.startsWith('--seed=')) opts.seed = a.slice(7)
    else if (a === '--json') opts.json = true
    else if (a === '--stdin-control') opts.control = true
    else if (a === '-h' || a === '--help') opts.help = true
    else throw new Error(`unknown option ${a}`)
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port must be 0..65535')
  return opts
}

function badOption(message) {
  const e = new Error(message)
  e.code = 'ERR_WA_TESTSERVER_BAD_OPTION'
  return e
}

// A phone's burst of texts driven here, in the server's process, so the client process a
// benchmark measures does not also pay a pipe round trip per text: `count` texts "PREFIX i"
// with at most `inFlight` of them in flight at once. A text is in flight until the server took
// it or, with `receiptFrom` (a device JID), until that device's delivery receipt for it came
// back: then "one in flight" means the device has handled each text before the next is sent.
// Resolves to the ids in send order.
async function sendTexts(phone, { to, prefix = '', count, inFlight = 1, receiptFrom = null, timeoutMs = 300_000 }) {
  if (!Number.isInteger(count) || count < 0) throw badOption('sendTexts: count must be a whole number >= 0')
  if (!Number.isInteger(inFlight) || inFlight < 1) throw badOption('sendTexts: inFlight must be a whole number >= 1')
  if (typeof prefix !== 'string') throw badOption('sendTexts: prefix must be a string')
  if (receiptFrom !== null && typeof receiptFrom !== 'string') throw badOption('sendTexts: receiptFrom must be a device JID')
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) throw badOption('sendTexts: timeoutMs must be a whole number of ms')
  const delivered = receiptFrom === null ? null : deliveryWatch(phone, receiptFrom, Date.now() + timeoutMs)
  const ids = new Array(count)
  let next = 0
  const lane = async () => {
    while (next < count) {
      const i = next++
      ids[i] = await phone.sendText(to, `${prefix}${i}`)
      if (delivered) await delivered.of(ids[i])
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane))
  } finally {
    delivered?.stop()
  }
  return ids
}

// Delivery receipts of one device for a phone's messages, read as they arrive: `of(id)`
// resolves once that device confirmed `id`.
function deliveryWatch(phone, from, deadline) {
  const seen = new Set()
  const waiting = new Map()
  let read = 0
  let stopped = false
  let failed = null
  const fail = (err) => {
    failed = err
    for (const w of waiting.values()) w.reject(err)
    waiting.clear()
  }
  ;(async () => {
    while (!stopped) {
      const left = deadline - Date.now()
      if (left <= 0) {
        const e = new Error(`sendTexts: no delivery receipt from ${from} for ${waiting.size} text(s) in time`)
        e.code = 'ERR_WA_TESTSERVER_TIMEOUT'
        return fail(e)
      }
      let fresh
      try {
        fresh = await phone.waitForReceipts(read + 1, { timeoutMs: Math.min(left, 1_000), skip: read })
      } catch (err) {
        if (err?.code === 'ERR_WA_TESTSERVER_TIMEOUT') continue
        return fail(err)
      }
      read += fresh.length
      for (const r of fresh) {
        if (r.from !== from || r.type !== 'delivery') continue
        seen.add(r.id)
        waiting.get(r.id)?.resolve()
        waiting.delete(r.id)
      }
    }
  })()
  return {
    of: (id) =>
      failed
        ? Promise.reject(failed)
        : seen.has(id)
          ? Promise.resolve()
          : new Promise((resolve, reject) => waiting.set(id, { resolve, reject })),
    stop: () => {
      stopped = true
    },
  }
}

// Resolves with the inbox's length once it holds at least `count` messages: waited for here,
// so the measured client process pays one round trip, not one per poll.
async function waitForInbox(phone, { count, timeoutMs = 60_000 }) {
  if (!Number.isInteger(count) || count < 0) throw badOption('waitForInbox: count must be a whole number >= 0')
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 0xffffffff) throw badOption('waitForInbox: timeoutMs must be a whole number of ms')
  return (await phone.waitForInbox(count, { timeoutMs })).length
}

async function control(server, line) {
  const msg = JSON.parse(line)
  const { cmd } = msg
  switch (cmd) {
    case 'scanQR':
      return server.scanQR(msg.qr, { phoneNumber: msg.phoneNumber, pushName: msg.pushName })
    case 'enterPairingCode':
      return server.enterPairingCode(msg.phoneNumber, msg.code)
    case 'sendText':
      return server.phone(msg.phoneNumber).sendText(msg.to, msg.text)
    case 'sendTexts':
      return sendTexts(server.phone(msg.phoneNumber), msg)
    case 'sendMessage':
      return server.phone(msg.phoneNumber).sendMessage(msg.to, Buffer.from(String(msg.message), 'base64'))
    case 'setMediaRetryAnswer':
      return server.phone(msg.phoneNumber).setMediaRetryAnswer(msg.answer, { code: msg.code })
    case 'inbox':
      return server.phone(msg.phoneNumber).inbox().map(({ messageBytes, ...m }) => ({ ...m, messageBytes: messageBytes.toString('base64') }))
    case 'receipts':
      return server.phone(msg.phoneNumber).receipts()
    case 'waitForInbox':
      return waitForInbox(server.phone(msg.phoneNumber), msg)
    case 'phone': {
      const p = server.phone(msg.phoneNumber)
      return { jid: p.jid, lid: p.lid }
    }
    case 'devices':
      return server.devices(msg.phoneNumber)
    case 'stats':
      return server.stats()
    case 'dropConnection':
      return server.dropConnection(msg.jid)
    case 'streamError':
      return server.streamError(msg.jid, msg.code)
    case 'refuseLogins':
      return server.refuseLogins(msg.durationMs, { code: msg.code, failure: msg.failure })
    case 'removeDevice':
      return server.removeDevice(msg.jid)
    case 'delayFrames':
      // Every frame to the JID's connections `delayMs` late (0 ends it): a server one network
      // hop away. A JID is required: "every connection" is not what a command line means.
      if (typeof msg.jid !== 'string' || !msg.jid) throw badOption('delayFrames: jid must be a JID')
      if (!Number.isInteger(msg.delayMs)) throw badOption('delayFrames: delayMs must be a whole number of ms')
      return server.delayFrames(msg.jid, msg.delayMs)
    case 'mediaExpire':
      return server.media.expire(msg.directPath)
    case 'mediaCorrupt':
      return server.media.corrupt(msg.directPath, msg.offset)
    case 'mediaFile':
      return server.media.file(msg.directPath).toString('base64')
    case 'seedAccounts':
      return server.seedAccounts({ prefix: msg.prefix, count: msg.count, devices: msg.devices })
    case 'mediaCount':
      return server.media.count()
    case 'mediaPut':
      return server.media.put(Buffer.from(String(msg.file), 'base64'))
    case 'stop':
      return 'stopping'
    default:
      throw new Error(`unknown command ${cmd}`)
  }
}

async function testServer(argv) {
  const opts = parse(argv)
  if (opts.help) {
    console.log(HELP)
    return
  }
  const { startTestServer } = require('../lib/testing.js')
  const server = await startTestServer({ port: opts.port, seed: opts.seed })
  // The server runs on native threads; this timer keeps Node (and so the process) alive.
  const keepAlive = setInterval(() => {}, 1 << 30)
  let stopping = false
  const stop = async (code = 0) => {
    if (stopping) return
    stopping = true
    clearInterval(keepAlive)
    await server.stop()
    process.exit(code)
  }
  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))
  const root = Buffer.from(server.rootPublicKey)
  if (opts.json) {
    console.log(
      JSON.stringify({
        url: server.url,
        rootPublicKey: root.toString('base64'),
        rootPublicKeyHex: root.toString('hex'),
        mediaHost: server.media.host,
        mediaCaPem: server.media.caPem,
      }),
    )
  } else {
    console.log(`url: ${server.url}`)
    console.log(`rootPublicKey (hex): ${root.toString('hex')}`)
    console.log(`rootPublicKey (base64): ${root.toString('base64')}`)
    console.log(`media host: https://${server.media.host} (its CA certificate: --json prints it)`)
  }
  if (opts.control) {
    const rl = require('node:readline').createInterface({ input: process.stdin })
    rl.on('line', async (line) => {
      if (!line.trim()) return
      let id = null
      try {
        id = JSON.parse(line).id ?? null
        const result = await control(server, line)
        console.log(JSON.stringify({ id, ok: true, result: result ?? null }))
        if (JSON.parse(line).cmd === 'stop') await stop(0)
      } catch (err) {
        console.log(JSON.stringify({ id, ok: false, error: { code: err.code ?? null, message: err.message } }))
      }
    })
    rl.on('close', () => stop(0))
  }
}

async function main() {
  const [command, ...rest] = process.argv.slice(2)
  if (command === 'test-server') return testServer(rest)
  if (command === 'migrate') return require('../lib/store-migrate-cli.js').main(rest)
  console.log(HELP)
  process.exitCode = command === undefined || command === '-h' || command === '--help' ? 0 : 1
}

main().catch((err) => {
  console.error(err.message)
  process.exit(1)
})
