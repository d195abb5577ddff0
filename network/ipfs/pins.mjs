// Recursive pin set persisted as JSON in the repo (our own small index: no datastore).
import fs from 'node:fs/promises'
import { writeFileAtomic } from './atomic.mjs'

export class PinIndex {
  #file
  /** @type {Set<string>} */
  #pins = new Set()
  #writes = Promise.resolve()

  constructor (file) { this.#file = file }

  async load () {
    let text
    try {
      text = await fs.readFile(this.#file, 'utf8')
    } catch (err) {
      if (err.code === 'ENOENT') return
      throw err
    }
    // A corrupt index must stop the node: starting with no pins would let GC delete everything.
    let doc
    try { doc = JSON.parse(text) } catch (err) {
      throw new Error(`pin index ${this.#file} is corrupt (${err.message}); refusing to start`)
    }
    if (doc?.version !== 1 || !Array.isArray(doc.recursive) || !doc.recursive.every(p => typeof p === 'string')) {
      throw new Error(`pin index ${this.#file} has an unknown format; refusing to start`)
    }
    this.#pins = new Set(doc.recursive)
  }

  has (cid) { return this.#pins.has(cid) }

  list () { return [...this.#pins].sort() }

  /** @returns {Promise<boolean>} whether the set changed */
  async add (cid) {
    if (this.#pins.has(cid)) return false
    this.#pins.add(cid)
    try { await this.#persist() } catch (err) { this.#pins.delete(cid); throw err }
    return true
  }

  /** @returns {Promise<boolean>} whether the set changed */
  async remove (cid) {
    if (!this.#pins.delete(cid)) return false
    try { await this.#persist() } catch (err) { this.#pins.add(cid); throw err }
    return true
  }

  // Writes are chained so an older snapshot can never be renamed over a newer one.
  #persist () {
    const run = this.#writes.then(() => {
      const doc = { version: 1, recursive: this.list() }
      return writeFileAtomic(this.#file, JSON.stringify(doc, null, 1) + '\n')
    })
    this.#writes = run.catch(() => {})
    return run
  }
}
