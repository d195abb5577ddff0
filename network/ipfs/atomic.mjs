// Crash-safe small-file writes: write a temp file, fsync it, rename over the target, fsync
// the directory. A reader sees the old or the new content, never a torn file.
import fs from 'node:fs/promises'
import path from 'node:path'

let counter = 0

export async function writeFileAtomic (file, data, mode = 0o644) {
  const tmp = `${file}.${process.pid}.${++counter}.tmp`
  const handle = await fs.open(tmp, 'w', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await fs.rename(tmp, file)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
  const dir = await fs.open(path.dirname(file), 'r')
  try { await dir.sync() } finally { await dir.close() }
}
