import { describe, expect, it } from 'vitest'
import { insecureParserSource } from './runtime-check.ts'

describe('insecureParserSource', () => {
  it('finds the lenient parser on the command line or in NODE_OPTIONS', () => {
    expect(insecureParserSource(['--insecure-http-parser'], undefined)).toBe(
      'the node command line',
    )
    expect(insecureParserSource([], '--max-old-space-size=512 --insecure-http-parser')).toBe(
      'NODE_OPTIONS',
    )
  })

  it('accepts a normal runtime', () => {
    expect(
      insecureParserSource(['--enable-source-maps'], '--max-old-space-size=512'),
    ).toBeUndefined()
    expect(insecureParserSource([], undefined)).toBeUndefined()
  })
})
