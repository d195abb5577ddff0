// Minimal multipart/form-data reader for /api/v0/add: exactly one file part, already buffered
// (the body size is capped before this runs, so buffering is bounded).
import { clientError } from './errors.mjs'

const CRLF2 = Buffer.from('\r\n\r\n')

function boundaryOf (contentType) {
  const m = /^multipart\/form-data\s*;(.*)$/i.exec(contentType ?? '')
  const b = m && /(?:^|;)\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(m[1])
  if (!b) throw clientError('add expects a multipart/form-data body with a boundary')
  return b[1] ?? b[2]
}

function parseHeaders (text) {
  const headers = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  return headers
}

function filenameOf (disposition) {
  const m = /filename="([^"]*)"/i.exec(disposition ?? '') ?? /filename=([^;\s]+)/i.exec(disposition ?? '')
  if (!m) return ''
  try { return decodeURIComponent(m[1]) } catch { return m[1] } // Kubo's client URL-escapes names
}

/**
 * @param {Buffer} body
 * @param {string | undefined} contentType
 * @returns {{ name: string, content: Buffer }}
 */
export function singleFile (body, contentType) {
  const delimiter = Buffer.from(`--${boundaryOf(contentType)}`)
  const files = []
  let pos = body.indexOf(delimiter)
  if (pos < 0) throw clientError('malformed multipart body: boundary not found')
  for (;;) {
    pos += delimiter.length
    if (body.subarray(pos, pos + 2).toString() === '--') break // closing delimiter
    const headEnd = body.indexOf(CRLF2, pos)
    if (headEnd < 0) throw clientError('malformed multipart body: part headers not terminated')
    const headers = parseHeaders(body.subarray(pos, headEnd).toString('utf8'))
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4)
    if (next < 0) throw clientError('malformed multipart body: closing boundary not found')
    const type = (headers['content-type'] ?? '').toLowerCase()
    if (type.startsWith('application/x-directory')) throw clientError('directories are not supported by this node; add one file')
    if (type.startsWith('multipart/')) throw clientError('nested multipart bodies are not supported by this node; add one file')
    files.push({ name: filenameOf(headers['content-disposition']), content: body.subarray(headEnd + 4, next) })
    pos = next + 2
  }
  if (files.length === 0) throw clientError('argument "path" is required')
  if (files.length > 1) throw clientError('only one file per add request is supported by this node')
  return files[0]
}
