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
                    sendMessage, setMediaRetryAnswer, inbox, devices, stats,
                    dropConnection, streamError, refuseLogins, removeDevice, mediaExpire,
                    mediaCorrupt, mediaFile, mediaPut, mediaCount, seedAccounts, stop`

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
    case 'sendMessage':
      return server.phone(msg.phoneNumber).sendMessage(msg.to, Buffer.from(String(msg.message), 'base64'))
    case 'setMediaRetryAnswer':
      return server.phone(msg.phoneNumber).setMediaRetryAnswer(msg.answer, { code: msg.code })
    case 'inbox':
      return server.phone(msg.phoneNumber).inbox().map(({ messageBytes, ...m }) => ({ ...m, messageBytes: messageBytes.toString('base64') }))
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
