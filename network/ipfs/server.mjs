#!/usr/bin/env node
// healthsilk's embedded IPFS node: the Kubo RPC subset the project uses, served from a local
// UnixFS blockstore on a loopback address. No libp2p: it never dials out or accepts peers.
//
//   node network/ipfs/server.mjs --repo DIR [--host 127.0.0.1] [--port 5001]
//                                [--max-add-bytes N] [--allow-non-loopback]
import http from 'node:http'
import { once } from 'node:events'
import net from 'node:net'
import { parseArgs } from 'node:util'
import { ApiError, clientError, errorBody, payloadTooLarge } from './errors.mjs'
import { singleFile } from './multipart.mjs'
import { Repo, mhKey, parseCid } from './repo.mjs'

const VERSION = '0.1.0'
const AGENT = `healthsilk-ipfs/${VERSION}`
const MAX_CHUNK = 1048576 // Kubo refuses chunk sizes above 1 MiB
const MULTIPART_SLACK = 64 * 1024 // room for boundaries and part headers around the file
const SHUTDOWN_GRACE_MS = 5000

function fail (message) {
  process.stderr.write(`ipfs node: ${message}\n`)
  process.exit(2)
}

function isLoopback (host) {
  if (host === 'localhost') return true
  const kind = net.isIP(host)
  if (kind === 4) return host.startsWith('127.')
  if (kind === 6) return host === '::1'
  return false
}

function readConfig () {
  let values
  try {
    ({ values } = parseArgs({
      options: {
        repo: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '5001' },
        'max-add-bytes': { type: 'string', default: String(64 * 1024 * 1024) },
        'allow-non-loopback': { type: 'boolean', default: false }
      },
      strict: true
    }))
  } catch (err) { fail(err.message) }
  if (!values.repo) fail('--repo DIR is required')
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid --port ${values.port}`)
  const maxAdd = Number(values['max-add-bytes'])
  if (!Number.isSafeInteger(maxAdd) || maxAdd < 0) fail(`invalid --max-add-bytes ${values['max-add-bytes']}`)
  if (!isLoopback(values.host) && !values['allow-non-loopback']) {
    fail(`refusing to bind non-loopback host ${values.host}: the node must only be reachable locally ` +
      '(pass --allow-non-loopback to override)')
  }
  return { repo: values.repo, host: values.host, port, maxAdd }
}

// ---- option parsing, with go-ipfs-cmds' wording where it has one -------------------------

function boolOpt (query, name, dflt) {
  const v = query.get(name)
  if (v === null) return dflt
  if (['', '1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false
  throw clientError(`could not convert value "${v}" to type "bool" (for option "-${name}")`)
}

function intOpt (query, name, dflt) {
  const v = query.get(name)
  if (v === null) return dflt
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw clientError(`could not convert value "${v}" to type "int" (for option "-${name}")`)
  }
  return Number(v)
}

function oneArg (query) {
  const args = query.getAll('arg')
  if (args.length === 0) throw clientError('argument "ipfs-path" is required')
  if (args.length > 1) throw clientError('this node accepts one "arg" per request')
  return parseCid(args[0])
}

function addOptions (query) {
  const cidVersion = intOpt(query, 'cid-version', 0) // Kubo's implicit default is still CIDv0
  if (cidVersion !== 0 && cidVersion !== 1) throw clientError(`unknown CID version: ${cidVersion}`)
  const hash = query.get('hash') ?? 'sha2-256'
  if (hash !== 'sha2-256') throw clientError(`hash function "${hash}" is not supported by this node (only sha2-256)`)
  const chunker = query.get('chunker') ?? 'size-262144'
  const m = /^size-(\d+)$/.exec(chunker)
  if (!m) throw clientError(`chunker "${chunker}" is not supported by this node (only size-N)`)
  const chunkSize = Number(m[1])
  if (chunkSize < 1) throw clientError('chunker size must be greater than 0')
  if (chunkSize > MAX_CHUNK) throw clientError(`chunker parameters may not exceed the maximum chunk size of ${MAX_CHUNK}`)
  const maxLinks = intOpt(query, 'max-file-links', 174)
  if (maxLinks < 2) throw clientError('max-file-links must be at least 2')
  // Options that would silently change the DAG shape are refused rather than ignored.
  for (const name of ['trickle', 'wrap-with-directory', 'inline', 'nocopy', 'fscache']) {
    if (boolOpt(query, name, false)) throw clientError(`option "${name}" is not supported by this node`)
  }
  return {
    cidVersion,
    rawLeaves: boolOpt(query, 'raw-leaves', cidVersion === 1),
    chunkSize,
    maxLinks,
    pin: boolOpt(query, 'pin', true),
    onlyHash: boolOpt(query, 'only-hash', false)
  }
}

// ---- responses ----------------------------------------------------------------------------

function sendJson (res, value, status = 200) {
  const body = JSON.stringify(value) + '\n'
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

function sendError (res, err) {
  if (res.headersSent) { res.destroy(err); return }
  const apiErr = err instanceof ApiError ? err : new ApiError(err?.message ?? String(err))
  if (!(err instanceof ApiError)) process.stderr.write(`ipfs node: internal error: ${err?.stack ?? err}\n`)
  const body = errorBody(apiErr)
  res.writeHead(apiErr.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
  res.end(body)
}

async function writeChunk (res, chunk) {
  if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')])
}

/** Buffer the request body up to `cap` bytes; past it, only count (the client still gets our answer). */
async function readBody (req, cap) {
  const parts = []
  let total = 0
  for await (const chunk of req) {
    total += chunk.length
    if (total <= cap) parts.push(chunk)
    else parts.length = 0 // over the cap: drop what we held, only count
  }
  return total > cap ? null : Buffer.concat(parts, total)
}

// ---- handlers -----------------------------------------------------------------------------

function handlers (repo, config) {
  return {
    async add (req, res, query) {
      const opts = addOptions(query)
      const cap = config.maxAdd + MULTIPART_SLACK
      // Refuse at once on a declared size; Node then discards the unread body without keeping it.
      if (Number(req.headers['content-length'] ?? 0) > cap) throw payloadTooLarge(config.maxAdd)
      const body = await readBody(req, cap) // chunked uploads are counted as they arrive
      if (body === null) throw payloadTooLarge(config.maxAdd)
      const file = singleFile(body, req.headers['content-type'])
      if (file.content.length > config.maxAdd) throw payloadTooLarge(config.maxAdd)
      const { cid, size } = await repo.add(file.content, opts)
      const hash = cid.toString()
      // Kubo streams NDJSON events; Size is the cumulative DAG size as a string.
      const line = JSON.stringify({ Name: file.name || hash, Hash: hash, Size: String(size) }) + '\n'
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Chunked-Output': '1', 'Content-Length': Buffer.byteLength(line) })
      res.end(line)
    },

    async cat (req, res, query) {
      const cid = oneArg(query)
      const offset = intOpt(query, 'offset', 0)
      const length = intOpt(query, 'length', -1)
      if (offset < 0) throw clientError('cannot specify negative offset')
      if (length < -1) throw clientError('cannot specify negative length')
      const entry = await repo.openFile(cid)
      const size = Number(entry.size)
      if (offset > size) throw new ApiError(`offset was past the end of file (${offset} > ${size})`)
      const count = length === -1 ? size - offset : Math.min(length, size - offset)
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'X-Stream-Output': '1',
        'X-Content-Length': String(count),
        Trailer: 'X-Stream-Error'
      })
      try {
        if (count > 0) {
          for await (const chunk of entry.content({ offset, length: count })) {
            if (res.destroyed) return
            await writeChunk(res, chunk)
          }
        }
      } catch (err) {
        res.addTrailers({ 'X-Stream-Error': err.message }) // Kubo's way to report a failure mid-stream
      }
      res.end()
    },

    async 'pin/add' (req, res, query) {
      const cid = oneArg(query)
      await repo.pinAdd(cid)
      sendJson(res, { Pins: [cid.toString()] })
    },

    async 'pin/rm' (req, res, query) {
      const cid = oneArg(query)
      await repo.pinRm(cid)
      sendJson(res, { Pins: [cid.toString()] })
    },

    async 'pin/ls' (req, res, query) {
      const type = query.get('type') ?? 'all'
      if (!['all', 'recursive', 'direct', 'indirect'].includes(type)) {
        throw clientError(`invalid type '${type}', must be one of {direct, indirect, recursive, all}`)
      }
      const wantRecursive = type === 'all' || type === 'recursive'
      const wantIndirect = type === 'all' || type === 'indirect'
      const owner = wantIndirect ? await repo.reachable() : new Map()
      const keys = {}
      const args = query.getAll('arg')
      if (args.length === 0) {
        if (wantRecursive) for (const p of repo.pins.list()) keys[p] = { Type: 'recursive' }
        if (wantIndirect) {
          for (const { cid } of owner.values()) {
            const s = cid.toString()
            if (!repo.pins.has(s)) keys[s] = { Type: 'indirect' }
          }
        }
      } else {
        for (const arg of args) {
          const cid = parseCid(arg)
          const s = cid.toString()
          if (wantRecursive && repo.pins.has(s)) {
            keys[s] = { Type: 'recursive' }
            continue
          }
          const via = owner.get(mhKey(cid))?.root
          if (wantIndirect && via !== undefined && via !== s) {
            keys[s] = { Type: `indirect through ${via}` }
            continue
          }
          throw new ApiError(`path '${arg}' is not pinned`)
        }
      }
      sendJson(res, { Keys: keys })
    },

    async 'block/stat' (req, res, query) {
      const cid = oneArg(query)
      const block = await repo.getBlock(cid)
      sendJson(res, { Key: cid.toString(), Size: block.length })
    },

    async 'repo/gc' (req, res) {
      const removed = []
      for await (const cid of repo.gc()) removed.push(JSON.stringify({ Key: { '/': cid.toString() } }) + '\n')
      const body = removed.join('')
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Chunked-Output': '1', 'Content-Length': Buffer.byteLength(body) })
      res.end(body)
    },

    async id (req, res, query) {
      const want = query.get('arg')
      if (want !== null && want !== repo.identity.id) {
        throw new ApiError('this node does no peer networking: it can only describe itself')
      }
      sendJson(res, { ID: repo.identity.id, PublicKey: repo.identity.publicKey, Addresses: [], AgentVersion: AGENT, Protocols: [] })
    },

    async version (req, res) {
      sendJson(res, { Version: VERSION, Commit: '', Repo: '1', System: `${process.arch === 'x64' ? 'amd64' : process.arch}/${process.platform}`, Golang: '', Agent: AGENT, Node: process.version })
    }
  }
}

// ---- server -------------------------------------------------------------------------------

async function main () {
  const config = readConfig()
  const repo = new Repo(config.repo)
  try { await repo.open() } catch (err) { fail(err.message) }
  const routes = handlers(repo, config)

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://node.invalid')
      const name = url.pathname.startsWith('/api/v0/') ? url.pathname.slice('/api/v0/'.length) : null
      const handler = name !== null && Object.hasOwn(routes, name) ? routes[name] : null
      if (handler === null) throw new ApiError(`unknown command "${url.pathname}"`, { status: 404, code: 0 })
      if (req.method !== 'POST') throw new ApiError(`${req.method} is not allowed: the RPC API takes POST only`, { status: 405, code: 1 })
      // Browsers always send Origin on POST; refusing it blocks cross-site and DNS-rebinding calls.
      if (req.headers.origin !== undefined) throw new ApiError('requests from browsers (Origin header) are refused', { status: 403, code: 4 })
      await handler(req, res, url.searchParams)
    } catch (err) {
      sendError(res, err)
    }
  })
  server.on('clientError', (err, socket) => { socket.destroy(err) })

  server.listen(config.port, config.host)
  try { await once(server, 'listening') } catch (err) { await repo.close(); fail(`cannot listen on ${config.host}:${config.port}: ${err.message}`) }
  const addr = server.address()
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  process.stdout.write(`ipfs node ready on http://${shown}:${addr.port}\n`)

  let stopping = false
  const stop = async signal => {
    if (stopping) return
    stopping = true
    process.stderr.write(`ipfs node: ${signal} received, shutting down\n`)
    server.close()
    server.closeIdleConnections()
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS)
    await once(server, 'close')
    clearTimeout(force)
    await repo.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
}

main().catch(err => fail(err?.stack ?? String(err)))
