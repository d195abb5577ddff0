// The node's repository: a filesystem blockstore, the pin index, the identity and a lock
// file, plus the UnixFS operations the RPC layer needs (import, export, walk, GC).
import fs from 'node:fs/promises'
import path from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import { FsBlockstore } from 'blockstore-fs'
import { exporter } from 'ipfs-unixfs-exporter'
import { importBytes } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { ApiError, clientError, notFound } from './errors.mjs'
import { loadOrCreateIdentity } from './identity.mjs'
import { PinIndex } from './pins.mjs'
import { RwLock } from './rwlock.mjs'


/** Parse a CID argument; Kubo also accepts "/ipfs/<cid>". */
export function parseCid (arg) {
  if (typeof arg !== 'string' || arg === '') throw clientError('argument "cid" is required')
  let text = arg.trim()
  if (text.startsWith('/ipfs/')) text = text.slice('/ipfs/'.length)
  if (text.includes('/')) throw new ApiError(`invalid path "${arg}": sub-paths are not supported by this node`)
  try {
    return CID.parse(text)
  } catch (err) {
    throw new ApiError(`invalid path "${arg}": invalid cid: ${err.message}`)
  }
}

export const mhKey = cid => Buffer.from(cid.multihash.bytes).toString('hex')

async function takeLock (file) {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: 'wx' })
      return
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    const pid = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10)
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(`repo is in use by another node (pid ${pid}, lock ${file})`)
    }
    await fs.rm(file, { force: true }) // stale lock from a node that died without cleanup
  }
  throw new Error(`could not take the repo lock ${file}`)
}

function isAlive (pid) {
  try { process.kill(pid, 0); return true } catch (err) { return err.code === 'EPERM' }
}

// Writes each block once: skips blocks already stored and joins concurrent puts of the same
// block (repetitive data yields identical chunks). blockstore-fs's writer would otherwise race
// on one temp file and back off for about a second per collision.
class WriteOnce {
  #inner
  #inflight = new Map()

  constructor (inner) { this.#inner = inner }

  async put (cid, bytes, options) {
    const key = mhKey(cid)
    let pending = this.#inflight.get(key)
    if (pending === undefined) {
      pending = (async () => {
        if (!(await this.#inner.has(cid))) await this.#inner.put(cid, bytes, options)
      })().finally(() => this.#inflight.delete(key))
      this.#inflight.set(key, pending)
    }
    await pending
    return cid
  }
}

export class Repo {
  lock = new RwLock()

  constructor (dir) {
    this.dir = path.resolve(dir)
    this.blocks = new FsBlockstore(path.join(this.dir, 'blocks'))
    this.writer = new WriteOnce(this.blocks)
    this.pins = new PinIndex(path.join(this.dir, 'pins.json'))
    this.lockFile = path.join(this.dir, 'repo.lock')
    this.identity = null
  }

  async open () {
    await fs.mkdir(this.dir, { recursive: true })
    await takeLock(this.lockFile)
    try {
      await this.blocks.open()
      await this.pins.load()
      this.identity = await loadOrCreateIdentity(path.join(this.dir, 'identity.json'))
    } catch (err) {
      await this.close()
      throw err
    }
  }

  async close () {
    await this.blocks.close().catch(() => {})
    await fs.rm(this.lockFile, { force: true })
  }

  async getBlock (cid) {
    const parts = []
    try {
      for await (const part of this.blocks.get(cid)) parts.push(part)
    } catch (err) {
      if (err.name === 'NotFoundError') throw notFound(cid)
      throw err
    }
    return Buffer.concat(parts)
  }

  /** Links of one block; raw blocks have none. */
  async links (cid) {
    if (cid.code === raw.code) {
      if (!(await this.blocks.has(cid))) throw notFound(cid)
      return []
    }
    if (cid.code !== dagPb.code) throw new ApiError(`unsupported codec 0x${cid.code.toString(16)} in ${cid}: this node stores UnixFS (dag-pb / raw) only`)
    const node = dagPb.decode(await this.getBlock(cid))
    return node.Links.map(l => l.Hash)
  }

  /** Every block of the DAG under root (each once); throws "not found" if any is missing. */
  async walk (root, visit = () => {}) {
    const seen = new Set()
    const stack = [root]
    while (stack.length > 0) {
      const cid = stack.pop()
      const key = mhKey(cid)
      if (seen.has(key)) continue
      seen.add(key)
      visit(cid)
      stack.push(...await this.links(cid))
    }
    return seen
  }

  /**
   * Import one file with Kubo's `add` semantics for the given parameters.
   * @param {Uint8Array} bytes
   * @param {{ cidVersion: 0|1, rawLeaves: boolean, chunkSize: number, maxLinks: number, pin: boolean, onlyHash: boolean }} opts
   */
  async add (bytes, opts) {
    const importOpts = {
      cidVersion: opts.cidVersion,
      rawLeaves: opts.rawLeaves,
      reduceSingleLeafToSelf: true,
      chunker: fixedSize({ chunkSize: opts.chunkSize }),
      layout: balanced({ maxChildrenPerNode: opts.maxLinks })
    }
    if (opts.onlyHash) {
      const { cid, size } = await importBytes(bytes, { put: async c => c }, importOpts)
      return { cid, size }
    }
    return await this.lock.read(async () => {
      const { cid, size } = await importBytes(bytes, this.writer, importOpts)
      if (opts.pin) await this.pins.add(cid.toString())
      return { cid, size }
    })
  }

  /** UnixFS file content (or raw block bytes), after checking every block is present. */
  async openFile (cid) {
    await this.walk(cid)
    const entry = await exporter(cid, this.blocks)
    if (entry.type === 'directory') throw new ApiError('this dag node is a directory')
    if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') {
      throw new ApiError(`${cid} is not a UnixFS file (type ${entry.type})`)
    }
    return entry
  }

  async pinAdd (cid) {
    return await this.lock.read(async () => {
      await this.walk(cid) // like Kubo: pinning needs the whole DAG locally
      await this.pins.add(cid.toString())
    })
  }

  async pinRm (cid) {
    return await this.lock.read(async () => {
      if (!(await this.pins.remove(cid.toString()))) throw new ApiError(`${cid} is not pinned or pinned indirectly`)
    })
  }

  /** Multihash key -> { cid, root } for every block reachable from a pin (roots included). */
  async reachable () {
    const owner = new Map()
    for (const root of this.pins.list()) {
      const rootCid = CID.parse(root)
      try {
        await this.walk(rootCid, c => { if (!owner.has(mhKey(c))) owner.set(mhKey(c), { cid: c, root }) })
      } catch (err) {
        throw new ApiError(`pinned DAG ${root} is incomplete (${err.message}); nothing was collected`)
      }
    }
    return owner
  }

  /** Delete every block not reachable from a pin; yields the removed CIDs (as CIDv1 raw, like Kubo). */
  async * gc () {
    const removed = await this.lock.write(async () => {
      const keep = await this.reachable()
      const doomed = []
      for await (const { cid } of this.blocks.getAll()) {
        if (!keep.has(mhKey(cid))) doomed.push(cid)
      }
      for (const cid of doomed) await this.blocks.delete(cid)
      return doomed
    })
    for (const cid of removed) yield CID.createV1(raw.code, cid.multihash)
  }
}


