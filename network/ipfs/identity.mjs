// The node's libp2p-style identity (Ed25519), created once per repo. Only used to answer
// /api/v0/id like Kubo does; the node never dials or listens for peers.
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import { base58btc } from 'multiformats/bases/base58'
import { writeFileAtomic } from './atomic.mjs'

// libp2p PublicKey protobuf: field 1 (KeyType, Ed25519 = 1), field 2 (32 key bytes).
function publicKeyProtobuf (raw) {
  return Buffer.concat([Buffer.from([0x08, 0x01, 0x12, raw.length]), raw])
}

function describe (publicKey) {
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')
  const pb = publicKeyProtobuf(raw)
  // Keys this short are put in an identity multihash (code 0x00), giving "12D3KooW..." IDs.
  const peerId = base58btc.baseEncode(Buffer.concat([Buffer.from([0x00, pb.length]), pb]))
  return { id: peerId, publicKey: pb.toString('base64') }
}

/** @returns {Promise<{ id: string, publicKey: string }>} */
export async function loadOrCreateIdentity (file) {
  let pem
  try {
    pem = JSON.parse(await fs.readFile(file, 'utf8')).privateKeyPem
  } catch (err) {
    if (err.code !== 'ENOENT') throw new Error(`identity file ${file} is unreadable: ${err.message}`)
  }
  if (typeof pem !== 'string') {
    const { privateKey } = crypto.generateKeyPairSync('ed25519')
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' })
    await writeFileAtomic(file, JSON.stringify({ privateKeyPem: pem }) + '\n', 0o600)
  }
  return describe(crypto.createPublicKey(crypto.createPrivateKey(pem)))
}
