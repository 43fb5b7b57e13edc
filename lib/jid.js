'use strict'
// JID helpers with Baileys' names and semantics (WABinary/jid-utils). Plain JS on purpose:
// each is a few string operations, cheaper than one call into the addon (docs/binary.md).
// The Rust twin is wa_binary::Jid, which the codec and the later layers use.

const S_WHATSAPP_NET = '@s.whatsapp.net'
const OFFICIAL_BIZ_JID = '16505361212@c.us'
const SERVER_JID = 'server@c.us'
const PSA_WID = '0@c.us'
const STORIES_JID = 'status@broadcast'
const META_AI_JID = '13135550002@c.us'

// A TypeScript-style numeric enum: names to values and values to names.
const WAJIDDomains = {}
for (const [name, value] of [['WHATSAPP', 0], ['LID', 1], ['HOSTED', 128], ['HOSTED_LID', 129]]) {
  WAJIDDomains[name] = value
  WAJIDDomains[value] = name
}

function getServerFromDomainType(initialServer, domainType) {
  switch (domainType) {
    case 1: return 'lid'
    case 128: return 'hosted'
    case 129: return 'hosted.lid'
    default: return initialServer
  }
}

function jidEncode(user, server, device, agent) {
  return `${user || ''}${agent ? `_${agent}` : ''}${device ? `:${device}` : ''}@${server}`
}

// `user[_agent][:device]@server`; like Baileys, only the first two parts around ':' and '_'
// count, and an agent becomes the domain type unless the server implies one.
function jidDecode(jid) {
  if (typeof jid !== 'string') return undefined
  const at = jid.indexOf('@')
  if (at < 0) return undefined
  const server = jid.slice(at + 1)
  const [userAgent, device] = jid.slice(0, at).split(':')
  const [user, agent] = userAgent.split('_')
  let domainType = 0
  if (server === 'lid') domainType = 1
  else if (server === 'hosted') domainType = 128
  else if (server === 'hosted.lid') domainType = 129
  else if (agent) domainType = parseInt(agent)
  return { server, user, domainType, device: device ? +device : undefined }
}

const endsWith = (suffix) => (jid) => jid?.endsWith(suffix)

const areJidsSameUser = (jid1, jid2) => jidDecode(jid1)?.user === jidDecode(jid2)?.user
const isJidMetaAI = endsWith('@bot')
const isPnUser = endsWith('@s.whatsapp.net')
const isLidUser = endsWith('@lid')
const isJidBroadcast = endsWith('@broadcast')
const isJidGroup = endsWith('@g.us')
const isJidStatusBroadcast = (jid) => jid === STORIES_JID
const isJidNewsletter = endsWith('@newsletter')
const isHostedPnUser = endsWith('@hosted')
const isHostedLidUser = endsWith('@hosted.lid')

const BOT_USER = /^1313555\d{4}$|^131655500\d{2}$/
const isJidBot = (jid) => jid && BOT_USER.test(jid.split('@')[0]) && jid.endsWith('@c.us')

function jidNormalizedUser(jid) {
  const decoded = jidDecode(jid)
  if (!decoded) return ''
  return jidEncode(decoded.user, decoded.server === 'c.us' ? 's.whatsapp.net' : decoded.server)
}

function transferDevice(fromJid, toJid) {
  const device = jidDecode(fromJid)?.device || 0
  const { server, user } = jidDecode(toJid)
  return jidEncode(user, server, device)
}

module.exports = {
  S_WHATSAPP_NET,
  OFFICIAL_BIZ_JID,
  SERVER_JID,
  PSA_WID,
  STORIES_JID,
  META_AI_JID,
  WAJIDDomains,
  getServerFromDomainType,
  jidEncode,
  jidDecode,
  areJidsSameUser,
  isJidMetaAI,
  isPnUser,
  isLidUser,
  isJidBroadcast,
  isJidGroup,
  isJidStatusBroadcast,
  isJidNewsletter,
  isHostedPnUser,
  isHostedLidUser,
  isJidBot,
  jidNormalizedUser,
  transferDevice,
}
