'use strict'
// Media with Baileys' names: `prepareWAMessageMedia` (encrypt, upload, describe),
// `encryptedStream`, `downloadContentFromMessage` / `downloadMediaMessage`, `getStream`,
// `getHttpStream`. Encryption, HTTPS and decryption are native (src/media.rs, wa-client's
// media module); a download's MAC is checked over the whole file before any byte is handed
// out (Baileys 7 checks none), and a `'stream'` download is served from a verified temporary
// file, so memory stays bounded whatever the file's size.
const fs = require('node:fs')
const fsp = require('node:fs/promises')
const os = require('node:os')
const path = require('node:path')
const { Readable } = require('node:stream')
const { pipeline } = require('node:stream/promises')
const { randomBytes } = require('node:crypto')
const { Boom } = require('@hapi/boom')
const native = require('../native.js')
const { proto } = require('./proto.js')
const { MEDIA_KEYS } = require('./defaults.js')
const { unixTimestampSeconds } = require('./generics.js')
const { extractMessageContent, getContentType, getStatusCodeForMediaRetry } = require('./messages.js')
const { isJidNewsletter, jidNormalizedUser } = require('./jid.js')
const { hkdf, aesEncryptGCM, aesDecryptGCM } = require('./crypto.js')
const { getBinaryNodeChild, getBinaryNodeChildBuffer } = require('./binary.js')

const MIMETYPE_MAP = {
  image: 'image/jpeg',
  video: 'video/mp4',
  document: 'application/pdf',
  audio: 'audio/ogg; codecs=opus',
  sticker: 'image/webp',
  'product-catalog-image': 'image/jpeg',
}
const MESSAGE_TYPES = {
  image: 'ImageMessage',
  video: 'VideoMessage',
  audio: 'AudioMessage',
  sticker: 'StickerMessage',
  document: 'DocumentMessage',
}
const REUPLOAD_REQUIRED_STATUS = [410, 404]
const DEF_MEDIA_HOST = 'mmg.whatsapp.net'

function mediaError(code, message, statusCode = 400) {
  const err = new Boom(message, { statusCode })
  err.code = code
  return err
}

/** Native failures as Boom errors with Baileys' `status` (404/410 drive media re-upload). */
function asBoom(err) {
  if (err?.isBoom) return err
  const status = err?.status !== undefined ? Number(err.status) : undefined
  const boom = new Boom(err?.message || String(err), { statusCode: status && status >= 400 ? status : 500 })
  boom.code = err?.code
  if (status !== undefined) boom.status = status
  return boom
}

const tmpPath = (what) => path.join(os.tmpdir(), `baileys-native-${what}-${randomBytes(8).toString('hex')}`)

async function toTempFile(readable, what) {
  const file = tmpPath(what)
  await pipeline(readable, fs.createWriteStream(file, { mode: 0o600 }))
  return file
}

function urlKind(url) {
  const s = url.toString()
  if (s.startsWith('https://')) return 'remote'
  if (s.startsWith('data:')) return 'data'
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !s.startsWith('file://')) return 'bad'
  return 'file'
}

function dataUrlBuffer(s) {
  const comma = s.indexOf(',')
  if (comma < 0) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'media: a data: URL without a comma')
  const meta = s.slice(5, comma)
  const body = s.slice(comma + 1)
  return meta.endsWith(';base64') ? Buffer.from(body, 'base64') : Buffer.from(decodeURIComponent(body))
}

function filePathOf(url) {
  const s = url.toString()
  return s.startsWith('file://') ? new URL(s).pathname : s
}

/** Baileys' `getHttpStream(url, options)`: a GET as a Node stream (https only). */
async function getHttpStream(url, options = {}) {
  if (urlKind(url) !== 'remote') throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${url} is not an https URL`)
  const res = await fetch(url.toString(), { dispatcher: options.dispatcher, method: 'GET', headers: options.headers })
  if (!res.ok) throw new Boom(`Failed to fetch stream from ${url}`, { statusCode: res.status, data: { url } })
  return Readable.fromWeb(res.body)
}

/** Baileys' `getStream(item, opts)`: a Buffer, `{ url }` (file, https, data:) or `{ stream }` as a stream. */
async function getStream(item, opts) {
  if (Buffer.isBuffer(item) || item instanceof Uint8Array) return { stream: Readable.from([Buffer.from(item)]), type: 'buffer' }
  if (item && typeof item === 'object' && 'stream' in item) return { stream: item.stream, type: 'readable' }
  if (item && typeof item === 'object' && item.url) {
    const kind = urlKind(item.url)
    if (kind === 'data') return { stream: Readable.from([dataUrlBuffer(item.url.toString())]), type: 'buffer' }
    if (kind === 'remote') return { stream: await getHttpStream(item.url, opts), type: 'remote' }
    if (kind === 'file') return { stream: fs.createReadStream(filePathOf(item.url)), type: 'file' }
    throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${item.url} is not a file, https or data: URL`)
  }
  throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'media must be a Buffer, { url: file path | https URL | data: URL } or { stream }')
}

/**
 * Baileys' `encryptedStream(media, mediaType, { saveOriginalFileIfRequired, opts })`: the media
 * encrypted under a fresh key into a temporary file (0600) the caller removes after upload.
 */
async function encryptedStream(media, mediaType, { saveOriginalFileIfRequired, opts, maxLength } = {}) {
  let input
  let scratch
  if (Buffer.isBuffer(media) || media instanceof Uint8Array) {
    input = Buffer.from(media)
  } else if (media && typeof media === 'object' && media.url && urlKind(media.url) === 'file') {
    input = filePathOf(media.url)
  } else if (media && typeof media === 'object' && media.url && urlKind(media.url) === 'data') {
    input = dataUrlBuffer(media.url.toString())
  } else {
    const { stream } = await getStream(media, opts)
    scratch = await toTempFile(stream, 'in')
    input = scratch
  }
  if (typeof input === 'string') {
    const st = await fsp.stat(input).catch((e) => {
      throw mediaError('ERR_WA_MEDIA_IO', `media: ${input}: ${e.code || e.message}`)
    })
    if (!st.isFile()) throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${input} is not a regular file`)
  }
  try {
    const enc = await native.encryptMediaFile(input, mediaType, maxLength).catch((e) => {
      throw asBoom(e)
    })
    let originalFilePath
    if (saveOriginalFileIfRequired) {
      originalFilePath = tmpPath('original')
      if (typeof input === 'string') await fsp.copyFile(input, originalFilePath)
      else await fsp.writeFile(originalFilePath, input, { mode: 0o600 })
    }
    const fd = await fsp.open(enc.encFilePath, 'r')
    const mac = Buffer.alloc(10)
    try {
      const { size } = await fd.stat()
      await fd.read(mac, 0, 10, size - 10)
    } finally {
      await fd.close()
    }
    return {
      mediaKey: enc.mediaKey,
      originalFilePath,
      encFilePath: enc.encFilePath,
      mac,
      fileEncSha256: enc.fileEncSha256,
      fileSha256: enc.fileSha256,
      fileLength: enc.fileLength,
    }
  } finally {
    if (scratch) await fsp.unlink(scratch).catch(() => {})
  }
}

async function bytesOrPath(input) {
  if (input instanceof Readable) return toBufferFromStream(input)
  if (Buffer.isBuffer(input) || input instanceof Uint8Array) return Buffer.from(input)
  if (typeof input === 'string') return input
  if (input && typeof input === 'object' && input.url && urlKind(input.url) === 'file') return filePathOf(input.url)
  throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'expected a Buffer, a file path or a readable stream')
}

async function toBufferFromStream(stream) {
  const chunks = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
}

/**
 * Baileys' `extractImageThumb(bufferOrFilePath, width = 32)`: a JPEG preview (quality 50) and
 * the original's size, made natively from JPEG, PNG or WebP (Baileys needs sharp or jimp).
 */
async function extractImageThumb(bufferOrFilePath, width = 32) {
  const t = await native.imageThumbnail(await bytesOrPath(bufferOrFilePath), width).catch((e) => {
    throw asBoom(e)
  })
  return { buffer: t.jpeg, original: { width: t.width, height: t.height } }
}

/**
 * Baileys' `generateThumbnail(file, mediaType, options)`: `{ thumbnail (base64),
 * originalImageDimensions }` for an image. Video frames need a video decoder, which Baileys
 * borrows from an ffmpeg install; without one neither gives a video thumbnail.
 */
async function generateThumbnail(file, mediaType, options = {}) {
  if (mediaType !== 'image') {
    options.logger?.debug?.(`no thumbnail for ${mediaType}`)
    return { thumbnail: undefined, originalImageDimensions: undefined }
  }
  const { buffer, original } = await extractImageThumb(file)
  return {
    thumbnail: buffer.toString('base64'),
    originalImageDimensions: original.width && original.height ? { width: original.width, height: original.height } : undefined,
  }
}

/** Baileys' `getAudioDuration(buffer | path | stream)`: seconds, read from an Ogg (Opus/Vorbis) file; `undefined` for other formats. */
async function getAudioDuration(buffer) {
  const seconds = await native.audioDuration(await bytesOrPath(buffer)).catch((e) => {
    throw asBoom(e)
  })
  return seconds ?? undefined
}

/**
 * Baileys' `prepareWAMessageMedia(message, options)`: encrypts and uploads (`options.upload`,
 * e.g. `sock.waUploadToServer`) the media of `{ image | video | audio | sticker | document, ... }`
 * and returns the `proto.Message` describing it. An image without `jpegThumbnail` gets one
 * (and its `width`/`height`), an Ogg audio without `seconds` its duration, as Baileys computes
 * them; a failure there is logged and the media sent without them, as in Baileys.
 */
async function prepareWAMessageMedia(message, options = {}) {
  let mediaType
  for (const key of MEDIA_KEYS) if (key in message) mediaType = key
  if (!mediaType) throw new Boom('Invalid media type', { statusCode: 400 })
  if (!MESSAGE_TYPES[mediaType]) throw mediaError('ERR_WA_MEDIA_ARGUMENT', `media: ${mediaType} cannot be sent as a message`)
  if (typeof options.upload !== 'function') throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'options.upload is required to send media')
  if (options.jid && isJidNewsletter(options.jid)) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'media to newsletters is not supported yet', 501)
  const uploadData = { ...message, media: message[mediaType] }
  delete uploadData[mediaType]
  const cacheableKey =
    typeof uploadData.media === 'object' && uploadData.media && 'url' in uploadData.media && !!uploadData.media.url && !!options.mediaCache
      ? `${mediaType}:${uploadData.media.url.toString()}`
      : undefined
  if (mediaType === 'document' && !uploadData.fileName) uploadData.fileName = 'file'
  if (!uploadData.mimetype) uploadData.mimetype = MIMETYPE_MAP[mediaType]
  const messageKey = `${mediaType}Message`
  if (cacheableKey) {
    const cached = await options.mediaCache.get(cacheableKey)
    if (cached) {
      const obj = proto.Message.decode(cached)
      Object.assign(obj[messageKey], { ...uploadData, media: undefined })
      return obj
    }
  }
  const needsThumb = mediaType === 'image' && uploadData.jpegThumbnail === undefined
  const needsSeconds = mediaType === 'audio' && uploadData.seconds === undefined
  const enc = await encryptedStream(uploadData.media, options.mediaTypeOverride || mediaType, {
    opts: options.options,
    saveOriginalFileIfRequired: needsThumb || needsSeconds,
  })
  let uploaded
  try {
    ;[uploaded] = await Promise.all([
      options.upload(enc.encFilePath, {
        fileEncSha256B64: enc.fileEncSha256.toString('base64'),
        mediaType,
        timeoutMs: options.mediaUploadTimeoutMs,
      }),
      (async () => {
        try {
          if (needsThumb) {
            const { thumbnail, originalImageDimensions } = await generateThumbnail(enc.originalFilePath, mediaType, options)
            uploadData.jpegThumbnail = thumbnail
            if (!uploadData.width && originalImageDimensions) {
              uploadData.width = originalImageDimensions.width
              uploadData.height = originalImageDimensions.height
            }
          }
          if (needsSeconds) uploadData.seconds = await getAudioDuration(enc.originalFilePath)
        } catch (error) {
          options.logger?.warn?.({ err: error }, 'failed to obtain extra info')
        }
      })(),
    ])
  } finally {
    await fsp.unlink(enc.encFilePath).catch(() => {})
    if (enc.originalFilePath) await fsp.unlink(enc.originalFilePath).catch(() => {})
  }
  const obj = proto.Message.fromObject({
    [messageKey]: proto.Message[MESSAGE_TYPES[mediaType]].fromObject({
      url: uploaded.mediaUrl,
      directPath: uploaded.directPath,
      mediaKey: enc.mediaKey,
      fileEncSha256: enc.fileEncSha256,
      fileSha256: enc.fileSha256,
      fileLength: enc.fileLength,
      mediaKeyTimestamp: unixTimestampSeconds(),
      ...uploadData,
      media: undefined,
    }),
  })
  if (uploadData.ptv) {
    obj.ptvMessage = obj.videoMessage
    delete obj.videoMessage
  }
  if (cacheableKey) await options.mediaCache.set(cacheableKey, proto.Message.encode(obj).finish())
  return obj
}

function hostOf(url) {
  try {
    return url ? new URL(url).host : undefined
  } catch {
    return undefined
  }
}

function downloadPlan({ mediaKey, directPath, url, fileEncSha256, fileSha256 }, opts) {
  const host = opts.host ?? hostOf(url)
  const downloadUrl = directPath ? `https://${host || DEF_MEDIA_HOST}${directPath}` : url
  if (!downloadUrl) throw new Boom('No valid media URL or directPath present in message', { statusCode: 400 })
  if (!mediaKey || Buffer.from(mediaKey).length !== 32) throw mediaError('ERR_WA_MEDIA_ARGUMENT', 'mediaKey must be 32 bytes')
  const check = {}
  if (fileEncSha256?.length) check.fileEncSha256 = Buffer.from(fileEncSha256)
  if (fileSha256?.length) check.fileSha256 = Buffer.from(fileSha256)
  if (opts.startByte !== undefined) check.startByte = Number(opts.startByte)
  if (opts.endByte !== undefined) check.endByte = Number(opts.endByte)
  if (opts.maxLength !== undefined) check.maxLength = Number(opts.maxLength)
  return { downloadUrl, key: Buffer.from(mediaKey), check }
}

/**
 * Baileys' `downloadContentFromMessage({ mediaKey, directPath, url }, type, opts)`: a stream of
 * the decrypted file. The file is fetched and its MAC (and `fileEncSha256` when the message
 * carries it) checked before the stream is returned; `startByte`/`endByte` cut the plaintext.
 */
async function downloadContentFromMessage(media, type, opts = {}) {
  const { downloadUrl, key, check } = downloadPlan(media, opts)
  const dl = await native.openMediaDownload(downloadUrl, key, type, check).catch((e) => {
    throw asBoom(e)
  })
  async function* chunks() {
    try {
      for (;;) {
        const chunk = await dl.read().catch((e) => {
          throw asBoom(e)
        })
        if (chunk === null) return
        // Copied into memory V8 accounts for: a native chunk is invisible to the garbage
        // collector's sizing, so without the copy finished chunks pile up until some other
        // allocation triggers a collection.
        yield Buffer.from(chunk)
      }
    } finally {
      dl.close()
    }
  }
  return Readable.from(chunks(), { objectMode: false })
}

/** Baileys' `downloadMediaMessage(message, 'buffer' | 'stream', options, ctx)`, with re-upload on 404/410. */
async function downloadMediaMessage(message, type, options = {}, ctx) {
  if (type !== 'buffer' && type !== 'stream') throw mediaError('ERR_WA_MEDIA_ARGUMENT', "type must be 'buffer' or 'stream'")
  const once = async (msg) => {
    const content = extractMessageContent(msg.message)
    if (!content) throw new Boom('No message present', { statusCode: 400, data: msg })
    const contentType = getContentType(content)
    let mediaType = contentType?.replace('Message', '')
    const media = content[contentType]
    if (!media || typeof media !== 'object' || (!('url' in media) && !('thumbnailDirectPath' in media))) {
      throw new Boom(`"${contentType}" message is not a media message`)
    }
    let download = media
    if ('thumbnailDirectPath' in media && !('url' in media)) {
      download = { directPath: media.thumbnailDirectPath, mediaKey: media.mediaKey }
      mediaType = 'thumbnail-link'
    }
    if (type === 'buffer') {
      const { downloadUrl, key, check } = downloadPlan(download, options)
      return native.downloadMedia(downloadUrl, key, mediaType, check).catch((e) => {
        throw asBoom(e)
      })
    }
    return downloadContentFromMessage(download, mediaType, options)
  }
  try {
    return await once(message)
  } catch (error) {
    if (ctx && typeof error?.status === 'number' && REUPLOAD_REQUIRED_STATUS.includes(error.status)) {
      ctx.logger?.info?.({ key: message.key }, 'sending reupload media request...')
      return once(await ctx.reuploadRequest(message))
    }
    throw error
  }
}

// ---- media retry -------------------------------------------------------------------------
// A device that finds a file gone asks the phone that sent it to upload it again: a
// `<receipt type="server-error">` with a `ServerErrorReceipt` sealed (AES-256-GCM, the
// message id as additional data) under a key derived from the message's mediaKey; the phone
// answers with `<notification type="mediaretry">` carrying a `MediaRetryNotification` sealed
// the same way (the socket emits it as `messages.media-update`). The crypto is native
// (wa-crypto's HKDF and AES-GCM; the phone of the test server uses wa-crypto's media_retry).

const MEDIA_RETRY_INFO = 'WhatsApp Media Retry Notification'
const mediaRetryKey = (mediaKey) => hkdf(mediaKey, 32, { info: MEDIA_RETRY_INFO })

/**
 * Baileys' `encryptMediaRetryRequest(key, mediaKey, meId)`: the `<receipt type="server-error">`
 * node asking the phone to upload the media of message `key` again.
 */
function encryptMediaRetryRequest(key, mediaKey, meId) {
  const request = proto.ServerErrorReceipt.encode({ stanzaId: key.id }).finish()
  const iv = randomBytes(12)
  const ciphertext = aesEncryptGCM(request, mediaRetryKey(mediaKey), iv, Buffer.from(key.id))
  return {
    tag: 'receipt',
    attrs: { id: key.id, to: jidNormalizedUser(meId), type: 'server-error' },
    content: [
      // WhatsApp Web sends the encrypted request; the phone answers without it as well.
      {
        tag: 'encrypt',
        attrs: {},
        content: [
          { tag: 'enc_p', attrs: {}, content: ciphertext },
          { tag: 'enc_iv', attrs: {}, content: iv },
        ],
      },
      {
        tag: 'rmr',
        attrs: { jid: key.remoteJid, from_me: String(!!key.fromMe), participant: key.participant || undefined },
      },
    ],
  }
}

/**
 * Baileys' `decodeMediaRetryNode(node)`: `{ key, media?: { ciphertext, iv }, error? }` of a
 * `<notification type="mediaretry">`. Where Baileys throws on a notification without `<rmr>`,
 * this reports it as `error` (a Boom, 400) against the message id.
 */
function decodeMediaRetryNode(node) {
  const rmrNode = getBinaryNodeChild(node, 'rmr')
  if (!rmrNode) {
    return {
      key: { id: node.attrs.id, remoteJid: node.attrs.from, fromMe: false, participant: undefined },
      error: new Boom('Failed to re-upload media (malformed notification: no rmr)', { statusCode: 400 }),
    }
  }
  const event = {
    key: {
      id: node.attrs.id,
      remoteJid: rmrNode.attrs.jid,
      fromMe: rmrNode.attrs.from_me === 'true',
      participant: rmrNode.attrs.participant,
    },
  }
  const errorNode = getBinaryNodeChild(node, 'error')
  if (errorNode) {
    const errorCode = +errorNode.attrs.code
    event.error = new Boom(`Failed to re-upload media (${errorCode})`, {
      data: errorNode.attrs,
      statusCode: getStatusCodeForMediaRetry(errorCode),
    })
    return event
  }
  const encrypted = getBinaryNodeChild(node, 'encrypt')
  const ciphertext = encrypted && getBinaryNodeChildBuffer(encrypted, 'enc_p')
  const iv = encrypted && getBinaryNodeChildBuffer(encrypted, 'enc_iv')
  if (ciphertext && iv) event.media = { ciphertext, iv }
  else event.error = new Boom('Failed to re-upload media (missing ciphertext)', { statusCode: 404 })
  return event
}

/**
 * Baileys' `decryptMediaRetryData({ ciphertext, iv }, mediaKey, msgId)`: the phone's
 * `proto.MediaRetryNotification` (throws when it does not open under this key and id).
 */
function decryptMediaRetryData({ ciphertext, iv }, mediaKey, msgId) {
  const plaintext = aesDecryptGCM(ciphertext, mediaRetryKey(mediaKey), iv, Buffer.from(msgId))
  return proto.MediaRetryNotification.decode(plaintext)
}

module.exports = {
  encryptMediaRetryRequest,
  decodeMediaRetryNode,
  decryptMediaRetryData,
  extractImageThumb,
  generateThumbnail,
  getAudioDuration,
  getStream,
  getHttpStream,
  encryptedStream,
  prepareWAMessageMedia,
  downloadContentFromMessage,
  downloadMediaMessage,
}
