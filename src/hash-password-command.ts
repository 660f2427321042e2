/** @module `portico hash-password`: read a password (never from argv), print its PHC scrypt hash. */
import { hashPassword } from './proxy/policy/password-hash.ts'

/** Longest password read, in bytes: a hash of more proves nothing and costs memory. */
const MAX_PASSWORD_BYTES = 4096

/**
 * readPassword reads one line from `input`: from a terminal without echo (raw mode, after a
 * prompt on `prompt`), from a pipe as is (`printf %s pw | portico hash-password`). The trailing
 * newline is dropped. Never from the command line, where `ps` and shell history would show it.
 */
export async function readPassword(
  input: NodeJS.ReadStream,
  prompt: NodeJS.WritableStream,
): Promise<string> {
  const tty = input.isTTY === true
  if (tty) {
    prompt.write('Password: ')
    input.setRawMode(true)
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      const text = chunk.toString('utf8')
      // Ctrl-C in raw mode arrives as a byte, not a signal.
      if (tty && text.includes('\u0003')) throw new Error('cancelled')
      const end = tty ? text.search(/[\r\n]/) : -1
      chunks.push(Buffer.from(end === -1 ? text : text.slice(0, end)))
      size += chunk.length
      if (end !== -1 || size > MAX_PASSWORD_BYTES) break
    }
  } finally {
    if (tty) {
      input.setRawMode(false)
      input.pause()
      prompt.write('\n')
    }
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

/** runHashPassword prints the hash of the password read from stdin; exit code 0, or 1 if empty. */
export async function runHashPassword(): Promise<number> {
  const password = await readPassword(process.stdin, process.stderr)
  if (password === '') {
    process.stderr.write('portico: an empty password cannot be hashed\n')
    return 1
  }
  process.stdout.write(`${await hashPassword(password)}\n`)
  return 0
}
