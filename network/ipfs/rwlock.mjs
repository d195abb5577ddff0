// Readers/writer lock: adds and pin changes share the repo, GC needs it alone so it never
// deletes blocks of an add that has written its blocks but not yet pinned its root.

export class RwLock {
  #readers = 0
  #writer = false
  /** @type {{ write: boolean, resolve: () => void }[]} */
  #queue = []

  /** @template T @param {() => Promise<T>} fn @returns {Promise<T>} */
  async read (fn) {
    await this.#acquire(false)
    try { return await fn() } finally { this.#readers--; this.#grant() }
  }

  /** @template T @param {() => Promise<T>} fn @returns {Promise<T>} */
  async write (fn) {
    await this.#acquire(true)
    try { return await fn() } finally { this.#writer = false; this.#grant() }
  }

  #acquire (write) {
    return new Promise(resolve => { this.#queue.push({ write, resolve }); this.#grant() })
  }

  // FIFO: a waiting writer blocks later readers, so GC cannot be starved by a stream of adds.
  #grant () {
    while (this.#queue.length > 0 && !this.#writer) {
      const next = this.#queue[0]
      if (next.write) {
        if (this.#readers > 0) return
        this.#writer = true
      } else {
        this.#readers++
      }
      this.#queue.shift()
      next.resolve()
    }
  }
}
