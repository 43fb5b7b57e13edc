'use strict'
// Baileys' USync query builder: USyncQuery, USyncUser and the protocols (devices, contact,
// status, disappearing mode, username; bot profile and LID through the query's `with*`
// methods). The protocols' query and user elements and result parsers match Baileys 7's; the
// `<iq>` a socket sends for a query is `usyncQueryNode(query, sid)` (checked byte for byte
// against Baileys' in __test__/usync-wam-baileys.test.mjs).
const {
  assertNodeErrorFree,
  getBinaryNodeChild,
  getBinaryNodeChildren,
  getBinaryNodeChildString,
} = require('./binary.js')

const node = (tag, attrs = {}, content) => (content === undefined ? { tag, attrs } : { tag, attrs, content })

class USyncDeviceProtocol {
  constructor() {
    this.name = 'devices'
  }
  getQueryElement() {
    return node('devices', { version: '2' })
  }
  getUserElement() {
    return null
  }
  parser(result) {
    const deviceList = []
    let keyIndex
    if (result.tag === 'devices') {
      assertNodeErrorFree(result)
      const list = getBinaryNodeChild(result, 'device-list')
      const keys = getBinaryNodeChild(result, 'key-index-list')
      if (Array.isArray(list?.content)) {
        for (const { tag, attrs } of list.content) {
          if (tag === 'device') {
            deviceList.push({ id: +attrs.id, keyIndex: +attrs['key-index'], isHosted: attrs.is_hosted === 'true' })
          }
        }
      }
      if (keys?.tag === 'key-index-list') {
        keyIndex = {
          timestamp: +keys.attrs.ts,
          signedKeyIndex: keys.content,
          expectedTimestamp: keys.attrs.expected_ts ? +keys.attrs.expected_ts : undefined,
        }
      }
    }
    return { deviceList, keyIndex }
  }
}

class USyncContactProtocol {
  constructor() {
    this.name = 'contact'
  }
  getQueryElement() {
    return node('contact')
  }
  getUserElement(user) {
    if (user.phone) return node('contact', {}, user.phone)
    if (user.username) {
      return node('contact', {
        username: user.username,
        ...(user.usernameKey ? { pin: user.usernameKey } : {}),
        ...(user.lid ? { lid: user.lid } : {}),
      })
    }
    if (user.type) return node('contact', { type: user.type })
    return node('contact')
  }
  parser(result) {
    if (result.tag !== 'contact') return false
    assertNodeErrorFree(result)
    return result?.attrs?.type === 'in'
  }
}

const setAtOf = (result) => new Date(+(result?.attrs.t || 0) * 1000)

class USyncStatusProtocol {
  constructor() {
    this.name = 'status'
  }
  getQueryElement() {
    return node('status')
  }
  getUserElement() {
    return null
  }
  parser(result) {
    if (result.tag !== 'status') return undefined
    assertNodeErrorFree(result)
    let status = result?.content?.toString() ?? null
    if (!status) status = result.attrs?.code && +result.attrs.code === 401 ? '' : null
    return { status, setAt: setAtOf(result) }
  }
}

class USyncDisappearingModeProtocol {
  constructor() {
    this.name = 'disappearing_mode'
  }
  getQueryElement() {
    return node('disappearing_mode')
  }
  getUserElement() {
    return null
  }
  parser(result) {
    if (result.tag !== 'disappearing_mode') return undefined
    assertNodeErrorFree(result)
    return { duration: +result?.attrs.duration, setAt: setAtOf(result) }
  }
}

class USyncUsernameProtocol {
  constructor() {
    this.name = 'username'
  }
  getQueryElement() {
    return node('username')
  }
  getUserElement() {
    return null
  }
  parser(result) {
    if (result.tag !== 'username') return null
    assertNodeErrorFree(result)
    return typeof result.content === 'string' ? result.content : null
  }
}

class USyncBotProfileProtocol {
  constructor() {
    this.name = 'bot'
  }
  getQueryElement() {
    return node('bot', {}, [node('profile', { v: '1' })])
  }
  getUserElement(user) {
    return node('bot', {}, [node('profile', { persona_id: user.personaId })])
  }
  parser(result) {
    const profile = getBinaryNodeChild(getBinaryNodeChild(result, 'bot'), 'profile')
    const commandsNode = getBinaryNodeChild(profile, 'commands')
    const promptsNode = getBinaryNodeChild(profile, 'prompts')
    const text = (n, tag) => getBinaryNodeChildString(n, tag)
    return {
      isDefault: !!getBinaryNodeChild(profile, 'default'),
      jid: result.attrs.jid,
      name: text(profile, 'name'),
      attributes: text(profile, 'attributes'),
      description: text(profile, 'description'),
      category: text(profile, 'category'),
      personaId: profile.attrs.persona_id,
      commandsDescription: text(commandsNode, 'description'),
      commands: getBinaryNodeChildren(commandsNode, 'command').map((c) => ({
        name: text(c, 'name'),
        description: text(c, 'description'),
      })),
      prompts: getBinaryNodeChildren(promptsNode, 'prompt').map((p) => `${text(p, 'emoji')} ${text(p, 'text')}`),
    }
  }
}

class USyncLIDProtocol {
  constructor() {
    this.name = 'lid'
  }
  getQueryElement() {
    return node('lid')
  }
  getUserElement(user) {
    return user.lid ? node('lid', { jid: user.lid }) : null
  }
  parser(result) {
    return result.tag === 'lid' ? result.attrs.val : null
  }
}

class USyncUser {
  withId(id) {
    this.id = id
    return this
  }
  withLid(lid) {
    this.lid = lid
    return this
  }
  withPhone(phone) {
    this.phone = phone
    return this
  }
  withUsername(username) {
    this.username = username
    return this
  }
  withUsernameKey(usernameKey) {
    this.usernameKey = usernameKey
    return this
  }
  withType(type) {
    this.type = type
    return this
  }
  withPersonaId(personaId) {
    this.personaId = personaId
    return this
  }
}

class USyncQuery {
  constructor() {
    this.protocols = []
    this.users = []
    this.context = 'interactive'
    this.mode = 'query'
  }
  withMode(mode) {
    this.mode = mode
    return this
  }
  withContext(context) {
    this.context = context
    return this
  }
  withUser(user) {
    this.users.push(user)
    return this
  }
  withDeviceProtocol() {
    this.protocols.push(new USyncDeviceProtocol())
    return this
  }
  withContactProtocol() {
    this.protocols.push(new USyncContactProtocol())
    return this
  }
  withStatusProtocol() {
    this.protocols.push(new USyncStatusProtocol())
    return this
  }
  withDisappearingModeProtocol() {
    this.protocols.push(new USyncDisappearingModeProtocol())
    return this
  }
  withBotProfileProtocol() {
    this.protocols.push(new USyncBotProfileProtocol())
    return this
  }
  withLIDProtocol() {
    this.protocols.push(new USyncLIDProtocol())
    return this
  }
  withUsernameProtocol() {
    this.protocols.push(new USyncUsernameProtocol())
    return this
  }
  /** `{ list: [{ id, [protocol]: parsed }], sideList: [] }` of a usync `<iq type=result>`. */
  parseUSyncQueryResult(result) {
    if (result?.attrs.type !== 'result') return undefined
    const parsers = Object.fromEntries(this.protocols.map((p) => [p.name, p.parser]))
    const out = { list: [], sideList: [] }
    const usync = getBinaryNodeChild(result, 'usync')
    const list = usync ? getBinaryNodeChild(usync, 'list') : undefined
    if (Array.isArray(list?.content)) {
      for (const user of list.content) {
        const id = user?.attrs.jid
        if (!id) continue
        const data = {}
        if (Array.isArray(user?.content)) {
          for (const item of user.content) {
            const parse = parsers[item.tag]
            const value = parse ? parse(item) : null
            if (value !== null) data[item.tag] = value
          }
        }
        out.list.push({ ...data, id })
      }
    }
    return out
  }
}

/** The `<iq xmlns=usync>` that runs `query` (Baileys' socket builds the same). */
function usyncQueryNode(query, sid) {
  const users = query.users.map((user) =>
    node('user', { jid: !user.phone ? user.id : undefined }, query.protocols.map((p) => p.getUserElement(user)).filter((e) => e !== null)),
  )
  return node('iq', { to: '@s.whatsapp.net', type: 'get', xmlns: 'usync' }, [
    node('usync', { context: query.context, mode: query.mode, sid, last: 'true', index: '0' }, [
      node('query', {}, query.protocols.map((p) => p.getQueryElement())),
      node('list', {}, users),
    ]),
  ])
}

module.exports = {
  USyncQuery,
  USyncUser,
  USyncDeviceProtocol,
  USyncContactProtocol,
  USyncStatusProtocol,
  USyncDisappearingModeProtocol,
  USyncUsernameProtocol,
}
// For the socket (lib/), not package exports.
Object.defineProperties(module.exports, {
  usyncQueryNode: { value: usyncQueryNode, enumerable: false },
  USyncBotProfileProtocol: { value: USyncBotProfileProtocol, enumerable: false },
  USyncLIDProtocol: { value: USyncLIDProtocol, enumerable: false },
})
