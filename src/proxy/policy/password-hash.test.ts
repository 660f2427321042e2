import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import { type PasswordHash, parsePasswordHash } from '../../config/policy-values.ts'
import { hashPassword, verifyPassword } from './password-hash.ts'

function parsed(text: string): PasswordHash {
  const hash = parsePasswordHash(text)
  if (typeof hash === 'string') throw new Error(hash)
  return hash
}

describe('password hashes', () => {
  it('makes PHC scrypt hashes that verify, with a fresh salt each time', async () => {
    const hash = await hashPassword('correct horse')
    expect(hash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    expect(await hashPassword('correct horse')).not.toBe(hash)
    expect(await verifyPassword('correct horse', parsed(hash))).toBe(true)
    expect(await verifyPassword('wrong horse', parsed(hash))).toBe(false)
  })

  it('verifies htpasswd bcrypt hashes ($2y$ and $2b$)', async () => {
    const b = bcrypt.hashSync('s3cret', 4)
    const y = b.replace(/^\$2b\$/, '$2y$')
    for (const text of [b, y]) {
      expect(await verifyPassword('s3cret', parsed(text))).toBe(true)
      expect(await verifyPassword('s3cre', parsed(text))).toBe(false)
    }
  })

  it('says which forms are accepted for anything else', () => {
    for (const bad of ['plain', '{SHA}abc', '$apr1$x$y', '$scrypt$ln=15,r=8$a$b', '$2y$10$short'])
      expect(parsePasswordHash(bad), bad).toMatch(/expected a password hash/)
  })

  it('refuses costs the edge should not pay', () => {
    expect(parsePasswordHash(`$scrypt$ln=21,r=8,p=1$${'A'.repeat(22)}$${'A'.repeat(43)}`)).toMatch(
      /outside what the edge checks/,
    )
    expect(parsePasswordHash(`$2b$15$${'a'.repeat(53)}`)).toMatch(/bcrypt cost 15/)
  })
})
