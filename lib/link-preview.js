'use strict'
// Link previews with Baileys' names: `getUrlInfo(url, opts)` fetches the page and reads its
// title, description, image and canonical URL from the <head> (Open Graph first, then the
// plain tags), and makes the thumbnail (inline JPEG, or uploaded as a high-quality thumbnail
// when `opts.uploadImage` is given). Baileys needs the optional `link-preview-js` for this and
// quietly sends no preview without it; here it is built in. The page is read up to 512 KiB
// (previews live in the head), redirects are followed only within the same site, five at most.
const { Boom } = require('@hapi/boom')

const THUMBNAIL_WIDTH_PX = 192
const MAX_HTML_BYTES = 512 * 1024
const MAX_REDIRECTS = 5
// An inline thumbnail's source image is read whole (to decode it); bounded like the page.
const MAX_IMAGE_BYTES = 16 * 1024 * 1024

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' }

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, e) => {
    if (e[0] === '#') {
      const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
      return Number.isFinite(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : whole
    }
    return ENTITIES[e.toLowerCase()] ?? whole
  })
}

function attributesOf(tag) {
  const attrs = {}
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g
  // Skip the tag name.
  const body = tag.replace(/^<\s*[a-z0-9]+/i, '').replace(/\/?>$/, '')
  for (let m = re.exec(body); m; m = re.exec(body)) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '')
  }
  return attrs
}

/**
 * What a page says about itself: `{ title, description, image, canonical }`, from its meta
 * tags (`og:*`, `twitter:*`, `description`), `<title>` and `<link rel="canonical">`.
 */
function readPreviewTags(html) {
  const meta = {}
  for (const m of html.matchAll(/<meta\b[^>]*>/gi)) {
    const a = attributesOf(m[0])
    const name = (a.property || a.name || '').toLowerCase()
    if (name && a.content !== undefined && !(name in meta)) meta[name] = a.content.trim()
  }
  let canonical
  for (const m of html.matchAll(/<link\b[^>]*>/gi)) {
    const a = attributesOf(m[0])
    if ((a.rel || '').toLowerCase().split(/\s+/).includes('canonical') && a.href) {
      canonical = a.href
      break
    }
  }
  const titleTag = /<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1]
  const title = meta['og:title'] || meta['twitter:title'] || (titleTag ? decodeEntities(titleTag).replace(/\s+/g, ' ').trim() : '')
  const description = meta['og:description'] || meta['twitter:description'] || meta.description || undefined
  const image = meta['og:image'] || meta['og:image:url'] || meta['og:image:secure_url'] || meta['twitter:image'] || undefined
  return { title, description, image, canonical: meta['og:url'] || canonical }
}

const sameSite = (a, b) => a === b || a === `www.${b}` || `www.${a}` === b

/** The page's text (at most 512 KiB of it) and the URL it was finally served from. */
async function fetchPage(url, fetchOpts = {}) {
  let current = new URL(url)
  const signal = AbortSignal.timeout(Number(fetchOpts.timeout) > 0 ? Number(fetchOpts.timeout) : 3000)
  for (let hops = 0; ; hops++) {
    const res = await fetch(current, {
      redirect: 'manual',
      signal,
      dispatcher: fetchOpts.dispatcher,
      headers: { 'user-agent': 'WhatsApp/2', accept: 'text/html,application/xhtml+xml', ...(fetchOpts.headers || {}) },
    })
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.body?.cancel()
      const next = new URL(res.headers.get('location'), current)
      if (hops >= MAX_REDIRECTS || !sameSite(next.hostname, current.hostname)) {
        throw new Boom(`link preview: ${current} redirects off the site (${next.hostname})`, { statusCode: 400 })
      }
      current = next
      continue
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw new Boom(`link preview: ${current} answered ${res.status}`, { statusCode: res.status })
    }
    const type = res.headers.get('content-type') || ''
    if (type && !/html|xml/i.test(type)) {
      await res.body?.cancel()
      return { html: '', url: current.toString() }
    }
    const reader = res.body.getReader()
    const parts = []
    let size = 0
    while (size < MAX_HTML_BYTES) {
      const { value, done } = await reader.read()
      if (done) break
      parts.push(value)
      size += value.length
    }
    await reader.cancel().catch(() => {})
    return { html: Buffer.concat(parts).subarray(0, MAX_HTML_BYTES).toString('utf8'), url: current.toString() }
  }
}

/**
 * Baileys' `getUrlInfo(text, opts)`: the `WAUrlInfo` of a URL (`'canonical-url'`,
 * `'matched-text'`, `title`, `description`, `originalThumbnailUrl`, `jpegThumbnail`, and
 * `highQualityThumbnail` when `opts.uploadImage` is given), or undefined when the page has no
 * title. `opts`: `{ thumbnailWidth = 192, fetchOpts: { timeout = 3000, headers, dispatcher },
 * uploadImage, logger }`.
 */
async function getUrlInfo(text, opts = { thumbnailWidth: THUMBNAIL_WIDTH_PX, fetchOpts: { timeout: 3000 } }) {
  if (typeof text !== 'string' || !text) throw new Boom('getUrlInfo: text must be a URL string', { statusCode: 400 })
  const link = /^https?:\/\//i.test(text) ? text : `https://${text}`
  const { html, url } = await fetchPage(link, opts.fetchOpts)
  const { title, description, image, canonical } = readPreviewTags(html)
  if (!title) return undefined
  const imageUrl = image ? new URL(image, url).toString() : undefined
  const info = { 'canonical-url': canonical ? new URL(canonical, url).toString() : url, 'matched-text': text, title, description, originalThumbnailUrl: imageUrl }
  if (!imageUrl) return info
  // Required here, not at the top: media.js needs messages.js, which needs this module.
  const media = require('./media.js')
  if (opts.uploadImage) {
    const { imageMessage } = await media.prepareWAMessageMedia(
      { image: { url: imageUrl } },
      { upload: opts.uploadImage, mediaTypeOverride: 'thumbnail-link', options: opts.fetchOpts },
    )
    info.jpegThumbnail = imageMessage?.jpegThumbnail ? Buffer.from(imageMessage.jpegThumbnail) : undefined
    info.highQualityThumbnail = imageMessage || undefined
  } else {
    try {
      const stream = await media.getHttpStream(imageUrl, opts.fetchOpts || {})
      const parts = []
      let size = 0
      for await (const part of stream) {
        size += part.length
        if (size > MAX_IMAGE_BYTES) {
          stream.destroy()
          throw new Boom(`link preview: the image is over ${MAX_IMAGE_BYTES} bytes`, { statusCode: 413 })
        }
        parts.push(part)
      }
      info.jpegThumbnail = (await media.extractImageThumb(Buffer.concat(parts), opts.thumbnailWidth || THUMBNAIL_WIDTH_PX)).buffer
    } catch (err) {
      opts.logger?.debug?.({ err: { message: err.message }, url: imageUrl }, 'no link preview thumbnail')
    }
  }
  return info
}

module.exports = { getUrlInfo }
// For tests only; not one of Baileys' exports.
Object.defineProperty(module.exports, 'readPreviewTags', { value: readPreviewTags, enumerable: false })
