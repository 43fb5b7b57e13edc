'use strict'
// The LID <-> phone-number mapping store Baileys 7 hangs on its Signal repository
// (`repository.lidMapping`): same methods, same results, same storage in the caller's key store
// (`lid-mapping` entries `pnUser -> lidUser` and `lidUser_reverse -> pnUser`). Sessions of a
// phone-number device are kept under its LID address once the mapping is known.

const DOMAIN = { WHATSAPP: 0, LID: 1, HOSTED: 128, HOSTED_LID: 129 }
const DAY_MS = 24 * 60 * 60 * 1000

// Baileys' jidDecode: user[_agent][:device]@server.
function jidDecode(jid) {
  const at = typeof jid === 'string' ? jid.indexOf('@') : -1
  if (at < 0) return undefined
  const server = jid.slice(at + 1)
  const [userAgent, device] = jid.slice(0, at).split(':')
  const [user, agent] = userAgent.split('_')
  let domainType = DOMAIN.WHATSAPP
  if (server === 'lid') domainType = DOMAIN.LID
  else if (server === 'hosted') domainType = DOMAIN.HOSTED
  else if (server === 'hosted.lid') domainType = DOMAIN.HOSTED_LID
  else if (agent) domainType = parseInt(agent)
  return { server, user, domainType, device: device ? +device : undefined }
}

const endsWith = (suffix) => (jid) => typeof jid === 'string' && jid.endsWith(suffix)
const isPnUser = endsWith('@s.whatsapp.net')
const isLidUser = endsWith('@lid')
const isHostedPnUser = endsWith('@hosted')
const isHostedLidUser = endsWith('@hosted.lid')

function jidEncode(user, server, device) {
  return `${user || ''}${device ? `:${device}` : ''}@${server}`
}

function jidNormalizedUser(jid) {
  const d = jidDecode(jid)
  if (!d) return ''
  return jidEncode(d.user, d.server === 'c.us' ? 's.whatsapp.net' : d.server)
}

// Baileys' transferDevice: toJid's user and server with fromJid's device.
function transferDevice(fromJid, toJid) {
  const device = jidDecode(fromJid)?.device || 0
  const { server, user } = jidDecode(toJid)
  return jidEncode(user, server, device)
}

// A map whose entries expire `ttl` ms after their last use, holding at most `max` entries
// (Baileys' cache has no bound; a bot that sees many numbers should not grow forever).
class TtlCache {
  constructor(ttl, max) {
    this.ttl = ttl
    this.max = max
    this.map = new Map()
  }

  get(key) {
    const e = this.map.get(key)
    if (!e) return undefined
    const now = Date.now()
    if (e.expires <= now) {
      this.map.delete(key)
      return undefined
    }
    this.map.delete(key)
    e.expires = now + this.ttl
    this.map.set(key, e)
    return e.value
  }

  has(key) {
    return this.get(key) !== undefined
  }

  set(key, value) {
    this.map.delete(key)
    this.map.set(key, { value, expires: Date.now() + this.ttl })
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value)
  }

  clear() {
    this.map.clear()
  }
}

class LIDMappingStore {
  constructor(keys, logger, pnToLIDFunc) {
    this.keys = keys
    this.logger = logger
    this.pnToLIDFunc = pnToLIDFunc
    this.cache = new TtlCache(3 * DAY_MS, 100_000)
    this.lidLookups = new Map()
    this.pnLookups = new Map()
  }

  remember(pnUser, lidUser) {
    this.cache.set(`pn:${pnUser}`, lidUser)
    this.cache.set(`lid:${lidUser}`, pnUser)
  }

  async inTransaction(key, work) {
    return typeof this.keys.transaction === 'function' ? this.keys.transaction(work, key) : work()
  }

  async storeLIDPNMappings(pairs) {
    if (!pairs.length) return
    const valid = []
    for (const { lid, pn } of pairs) {
      if (!((isLidUser(lid) && isPnUser(pn)) || (isPnUser(lid) && isLidUser(pn)))) {
        this.logger.warn(`Invalid LID-PN mapping: ${lid}, ${pn}`)
        continue
      }
      const l = jidDecode(lid)
      const p = jidDecode(pn)
      if (l && p) valid.push({ pnUser: p.user, lidUser: l.user })
    }
    if (!valid.length) return
    const known = new Map()
    const missing = new Set()
    for (const { pnUser } of valid) {
      const cached = this.cache.get(`pn:${pnUser}`)
      if (cached) known.set(pnUser, cached)
      else missing.add(pnUser)
    }
    if (missing.size) {
      const stored = (await this.keys.get('lid-mapping', [...missing])) || {}
      for (const pnUser of missing) {
        const lidUser = stored[pnUser]
        if (lidUser) {
          known.set(pnUser, lidUser)
          this.remember(pnUser, lidUser)
        }
      }
    }
    const fresh = {}
    for (const { pnUser, lidUser } of valid) {
      if (known.get(pnUser) !== lidUser) fresh[pnUser] = lidUser
    }
    const entries = Object.entries(fresh)
    if (!entries.length) return
    const batch = {}
    for (const [pnUser, lidUser] of entries) {
      batch[pnUser] = lidUser
      batch[`${lidUser}_reverse`] = pnUser
    }
    await this.inTransaction('lid-mapping', () => this.keys.set({ 'lid-mapping': batch }))
    for (const [pnUser, lidUser] of entries) this.remember(pnUser, lidUser)
  }

  async getLIDForPN(pn) {
    return (await this.getLIDsForPNs([pn]))?.[0]?.lid || null
  }

  async getLIDsForPNs(pns) {
    if (!pns.length) return null
    return coalesce(this.lidLookups, pns, () => this.lookupLIDs(pns))
  }

  async lookupLIDs(pns) {
    const found = {}
    const pending = []
    const resolved = (pn, decoded, lidUser) => {
      const device = decoded.device !== undefined ? decoded.device : 0
      const server = decoded.server === 'hosted' ? 'hosted.lid' : 'lid'
      found[pn] = { lid: `${lidUser}${device ? `:${device}` : ''}@${server}`, pn }
    }
    for (const pn of pns) {
      if (!isPnUser(pn) && !isHostedPnUser(pn)) continue
      const decoded = jidDecode(pn)
      if (!decoded) continue
      const cached = this.cache.get(`pn:${decoded.user}`)
      if (typeof cached === 'string' && cached) resolved(pn, decoded, cached)
      else pending.push({ pn, decoded })
    }
    const usync = {}
    if (pending.length) {
      const users = [...new Set(pending.map((p) => p.decoded.user))]
      const stored = (await this.keys.get('lid-mapping', users)) || {}
      for (const u of users) {
        if (typeof stored[u] === 'string' && stored[u]) this.remember(u, stored[u])
      }
      for (const { pn, decoded } of pending) {
        const lidUser = this.cache.get(`pn:${decoded.user}`)
        if (typeof lidUser === 'string' && lidUser) {
          resolved(pn, decoded, lidUser)
          continue
        }
        let normalized = jidNormalizedUser(pn)
        if (isHostedPnUser(normalized)) normalized = `${decoded.user}@s.whatsapp.net`
        ;(usync[normalized] ||= []).push(decoded.device || 0)
      }
    }
    const toFetch = Object.keys(usync)
    if (toFetch.length) {
      const result = await this.pnToLIDFunc?.(toFetch)
      if (result && result.length) {
        await this.storeLIDPNMappings(result)
        for (const pair of result) {
          const pnUser = jidDecode(pair.pn)?.user
          const lidUser = jidDecode(pair.lid)?.user
          if (!pnUser || !lidUser) continue
          for (const device of usync[pair.pn] || []) {
            const hosted = device === 99
            const suffix = device ? `:${device}` : ''
            const pn = `${pnUser}${suffix}@${hosted ? 'hosted' : 's.whatsapp.net'}`
            found[pn] = { lid: `${lidUser}${suffix}@${hosted ? 'hosted.lid' : 'lid'}`, pn }
          }
        }
      } else {
        this.logger.warn('USync fetch yielded no results for pending PNs')
      }
    }
    const list = Object.values(found)
    return list.length ? list : null
  }

  async getPNForLID(lid) {
    return (await this.getPNsForLIDs([lid]))?.[0]?.pn || null
  }

  async getPNsForLIDs(lids) {
    if (!lids.length) return null
    return coalesce(this.pnLookups, lids, () => this.lookupPNs(lids))
  }

  async lookupPNs(lids) {
    const found = {}
    const pending = []
    const resolved = (lid, decoded, pnUser) => {
      if (!pnUser || typeof pnUser !== 'string') return
      const device = decoded.device !== undefined ? decoded.device : 0
      const server = decoded.domainType === DOMAIN.HOSTED_LID ? 'hosted' : 's.whatsapp.net'
      // Baileys writes the device even when it is 0 here.
      found[lid] = { lid, pn: `${pnUser}:${device}@${server}` }
    }
    for (const lid of lids) {
      if (!isLidUser(lid)) continue
      const decoded = jidDecode(lid)
      if (!decoded) continue
      const cached = this.cache.get(`lid:${decoded.user}`)
      if (typeof cached === 'string' && cached) resolved(lid, decoded, cached)
      else pending.push({ lid, decoded })
    }
    if (pending.length) {
      const reverse = [...new Set(pending.map((p) => `${p.decoded.user}_reverse`))]
      const stored = (await this.keys.get('lid-mapping', reverse)) || {}
      for (const { lid, decoded } of pending) {
        let pnUser = this.cache.get(`lid:${decoded.user}`)
        if (typeof pnUser !== 'string' || !pnUser) {
          pnUser = stored[`${decoded.user}_reverse`]
          if (typeof pnUser === 'string' && pnUser) this.remember(pnUser, decoded.user)
        }
        resolved(lid, decoded, pnUser)
      }
    }
    const list = Object.values(found)
    return list.length ? list : null
  }

  close() {
    this.cache.clear()
  }
}

// Concurrent lookups of the same set of JIDs share one promise.
async function coalesce(inflight, jids, run) {
  const key = [...new Set(jids)].sort().join(',')
  const running = inflight.get(key)
  if (running) return running
  const p = run()
  inflight.set(key, p)
  try {
    return await p
  } finally {
    inflight.delete(key)
  }
}

module.exports = {
  DOMAIN,
  LIDMappingStore,
  TtlCache,
  jidDecode,
  transferDevice,
  isPnUser,
  isLidUser,
  isHostedPnUser,
  isHostedLidUser,
}
