'use strict'
// Baileys' auth helpers over a SignalKeyStore (`get(type, ids)`, `set(data)`):
// makeCacheableSignalKeyStore (a read/write-through cache), addTransactionCapability
// (transactions with a per-transaction cache, committed once, retried), assertMeId.
// A store made by baileys-native (useMultiFileAuthState, useStoreAuthState, KeyStore) already
// caches and batches in Rust: makeCacheableSignalKeyStore returns it as it is, so the socket
// keeps its native fast path.
const { AsyncLocalStorage } = require('node:async_hooks')
const { Boom } = require('@hapi/boom')
const { delay } = require('./generics.js')

const kNative = Symbol.for('baileys-native.store.native')
const SIGNAL_STORE_TTL_S = 5 * 60
const noop = () => {}

/** Runs async work one at a time per key. */
function makeLocks() {
  const tails = new Map()
  return {
    async run(key, work) {
      const prev = tails.get(key) || Promise.resolve()
      let release
      const mine = new Promise((r) => (release = r))
      const tail = prev.then(() => mine)
      tails.set(key, tail)
      await prev
      try {
        return await work()
      } finally {
        release()
        if (tails.get(key) === tail) tails.delete(key)
      }
    },
    isLocked: (key) => tails.has(key),
  }
}

/** A TTL cache with NodeCache's async-compatible `get/set/flushAll`. */
function makeTtlCache(ttlSeconds) {
  const items = new Map()
  return {
    get(key) {
      const item = items.get(key)
      if (!item) return undefined
      if (item.expires <= Date.now()) {
        items.delete(key)
        return undefined
      }
      return item.value
    },
    set(key, value) {
      items.set(key, { value, expires: Date.now() + ttlSeconds * 1000 })
      return true
    },
    flushAll() {
      items.clear()
    },
  }
}

/**
 * Adds a cache in front of a SignalKeyStore: reads come from the cache when present, writes
 * go to both. `_cache` may be any object with `get(key)`, `set(key, value)`, `flushAll()`
 * (NodeCache's); by default entries live 5 minutes.
 */
function makeCacheableSignalKeyStore(store, logger, _cache) {
  if (store?.[kNative] && !_cache) return store
  const cache = _cache || makeTtlCache(SIGNAL_STORE_TTL_S)
  const lock = makeLocks()
  const id = (type, key) => `${type}.${key}`
  return {
    get(type, ids) {
      return lock.run('cache', async () => {
        const data = {}
        const missing = []
        for (const key of ids) {
          const item = await cache.get(id(type, key))
          if (item !== undefined) data[key] = item
          else missing.push(key)
        }
        if (missing.length) {
          logger?.trace?.({ items: missing.length }, 'loading from store')
          const fetched = await store.get(type, missing)
          for (const key of missing) {
            const item = fetched[key]
            if (item) {
              data[key] = item
              await cache.set(id(type, key), item)
            }
          }
        }
        return data
      })
    },
    set(data) {
      return lock.run('cache', async () => {
        let count = 0
        for (const type in data) {
          for (const key in data[type]) {
            await cache.set(id(type, key), data[type][key])
            count++
          }
        }
        logger?.trace?.({ keys: count }, 'updated cache')
        await store.set(data)
      })
    },
    async clear() {
      await cache.flushAll()
      await store.clear?.()
    },
  }
}

/**
 * Adds transactions to a SignalKeyStore: inside `transaction(work, key)` reads are cached and
 * writes collected, then committed with one `set` (retried `maxCommitRetries` times,
 * `delayBetweenTriesMs` apart); one transaction per key at a time; nested ones join the outer.
 * Outside a transaction writes go straight through, one per key type at a time. Deleting a
 * pre-key that does not exist is skipped with a warning.
 */
function addTransactionCapability(state, logger, { maxCommitRetries, delayBetweenTriesMs }) {
  const log = logger || { trace: noop, warn: noop, error: noop }
  const tx = new AsyncLocalStorage()
  const typeLocks = makeLocks()
  const txLocks = makeLocks()
  const readLocks = makeLocks() // apart from txLocks: a transaction keyed by a type name reads freely
  const preKeyLock = makeLocks()

  async function commit(mutations) {
    if (Object.keys(mutations).length === 0) {
      log.trace('no mutations in transaction')
      return
    }
    log.trace('committing transaction')
    for (let attempt = 0; attempt < maxCommitRetries; attempt++) {
      try {
        await state.set(mutations)
        log.trace({ mutationCount: Object.keys(mutations).length }, 'committed transaction')
        return
      } catch (error) {
        const left = maxCommitRetries - attempt - 1
        log.warn(`failed to commit mutations, retries left=${left}`)
        if (left === 0) throw error
        await delay(delayBetweenTriesMs)
      }
    }
  }

  return {
    async get(type, ids) {
      const ctx = tx.getStore()
      if (!ctx) return state.get(type, ids)
      const cached = ctx.cache[type] || {}
      const missing = ids.filter((i) => !(i in cached))
      if (missing.length) {
        ctx.dbQueries++
        log.trace({ type, count: missing.length }, 'fetching missing keys in transaction')
        const fetched = await readLocks.run(type, () => state.get(type, missing))
        ctx.cache[type] = Object.assign(ctx.cache[type] || {}, fetched)
      }
      const out = {}
      for (const i of ids) {
        const value = ctx.cache[type]?.[i]
        if (value !== undefined && value !== null) out[i] = value
      }
      return out
    },
    async set(data) {
      const ctx = tx.getStore()
      if (!ctx) {
        const types = Object.keys(data)
        if (data['pre-key']) {
          await preKeyLock.run('pre-key', async () => {
            const deletions = Object.keys(data['pre-key']).filter((i) => data['pre-key'][i] === null)
            if (!deletions.length) return
            const existing = await state.get('pre-key', deletions)
            for (const i of deletions) {
              if (!existing[i]) {
                log.warn(`Skipping deletion of non-existent pre-key: ${i}`)
                delete data['pre-key'][i]
              }
            }
          })
        }
        await Promise.all(types.map((type) => typeLocks.run(type, () => state.set({ [type]: data[type] }))))
        return
      }
      log.trace({ types: Object.keys(data) }, 'caching in transaction')
      for (const type in data) {
        ctx.cache[type] = ctx.cache[type] || {}
        ctx.mutations[type] = ctx.mutations[type] || {}
        if (type !== 'pre-key') {
          Object.assign(ctx.cache[type], data[type])
          Object.assign(ctx.mutations[type], data[type])
          continue
        }
        await preKeyLock.run('pre-key', async () => {
          for (const i in data[type]) {
            if (data[type][i] !== null) {
              ctx.cache[type][i] = data[type][i]
              ctx.mutations[type][i] = data[type][i]
            } else if (ctx.cache[type][i]) {
              ctx.cache[type][i] = null
              ctx.mutations[type][i] = null
            } else {
              log.warn(`Skipping deletion of non-existent pre-key in transaction: ${i}`)
            }
          }
        })
      }
    },
    isInTransaction: () => !!tx.getStore(),
    async transaction(work, key) {
      if (tx.getStore()) {
        log.trace('reusing existing transaction context')
        return work()
      }
      return txLocks.run(key, async () => {
        const ctx = { cache: {}, mutations: {}, dbQueries: 0 }
        log.trace('entering transaction')
        try {
          const result = await tx.run(ctx, work)
          await commit(ctx.mutations)
          log.trace({ dbQueries: ctx.dbQueries }, 'transaction completed')
          return result
        } catch (error) {
          log.error({ error }, 'transaction failed, rolling back')
          throw error
        }
      })
    },
  }
}

/** The logged-in account's JID, or a Boom 401 before login. */
function assertMeId(creds) {
  const id = creds.me?.id
  if (!id) throw new Boom('Cannot proceed: socket is not authenticated yet (creds.me.id is missing)', { statusCode: 401 })
  return id
}

module.exports = { makeCacheableSignalKeyStore, addTransactionCapability, assertMeId }
