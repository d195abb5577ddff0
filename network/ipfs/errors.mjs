// Kubo-shaped API errors: go-ipfs-cmds answers {"Message","Code","Type":"error"}, with
// HTTP 400 for client errors (Code 1) and HTTP 500 for command failures (Code 0).

export const ERR_NORMAL = 0
export const ERR_CLIENT = 1

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{ status?: number, code?: number }} [opts]
   */
  constructor (message, { status = 500, code = ERR_NORMAL } = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/** A request the node will not serve as sent (bad option, missing argument, ...). */
export function clientError (message) {
  return new ApiError(message, { status: 400, code: ERR_CLIENT })
}

/** Same wording as Kubo run with --offline, so clients match "not found" for both nodes. */
export function notFound (cid) {
  return new ApiError(`block was not found locally (offline): ipld: could not find ${cid}`)
}

export function payloadTooLarge (limit) {
  return new ApiError(`request body exceeds the node's add limit of ${limit} bytes (--max-add-bytes); nothing was stored`,
    { status: 413, code: ERR_CLIENT })
}

export function errorBody (err) {
  return JSON.stringify({ Message: err.message, Code: err.code ?? ERR_NORMAL, Type: 'error' })
}
