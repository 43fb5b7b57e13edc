#!/usr/bin/env node
// `npm run demo`: shows what baileys-native can do today, end to end through the addon.
// Later layers turn this into a bot talking to the embedded test server.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const wa = require('../index.js')

// A HandshakeMessage{clientHello{ephemeral: 32 bytes}} as the first frame of a session carries it.
const clientHello = Buffer.concat([Buffer.from([0x12, 34, 0x0a, 32]), Buffer.alloc(32, 7)])
console.log('HandshakeMessage parts:', wa.describeHandshakeMessage(clientHello))
