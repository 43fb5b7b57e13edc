#!/usr/bin/env node
// `npm run demo`: shows what baileys-native can do today, end to end through the addon.
// Later layers turn this into a bot talking to the embedded test server.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const wa = require('../index.js')
const corpus = (name) => readFileSync(new URL(`../crates/wa-binary/tests/corpus/${name}.bin`, import.meta.url))

// A HandshakeMessage{clientHello{ephemeral: 32 bytes}} as the first frame of a session carries it.
const clientHello = Buffer.concat([Buffer.from([0x12, 34, 0x0a, 32]), Buffer.alloc(32, 7)])
console.log('HandshakeMessage parts:', wa.describeHandshakeMessage(clientHello))

// The binary node codec on a realistic frame: an outgoing message fanned out to four devices,
// each with an <enc> child, as Baileys' encoder writes it.
const frame = corpus('message-out-fanout')
const node = await wa.decodeBinaryNode(frame)
const clip = (line) => (line.length > 96 ? `${line.slice(0, 93)}...` : line)
console.log(`\ndecoded a ${frame.length}-byte frame:`)
console.log(wa.binaryNodeToString(node).split('\n').map(clip).join('\n'))

const again = wa.encodeBinaryNode(node)
console.log(`\nre-encoded: ${again.length} bytes, identical to the frame: ${again.equals(frame)}`)
let baileys = null
try {
  baileys = await import('@whiskeysockets/baileys')
} catch {
  console.log('(@whiskeysockets/baileys is not installed: skipping the comparison with its encoder)')
}
if (baileys) {
  const theirs = baileys.encodeBinaryNode(node)
  console.log(`Baileys' encoder writes the same bytes: ${theirs.equals(again)}`)
}

// A compressed frame (flag bit 2, zlib) as the server sends large stanzas.
const group = await wa.decodeBinaryNode(corpus('iq-group-metadata-500'))
const meta = wa.getBinaryNodeChild(group, 'group')
const participants = wa.getBinaryNodeChildren(meta, 'participant')
console.log(`\ncompressed group metadata: "${meta.attrs.subject}", ${participants.length} participants, first ${participants[0].attrs.jid} (${wa.jidDecode(participants[0].attrs.jid).server})`)
