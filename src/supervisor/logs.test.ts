import { describe, expect, it } from 'vitest'
import { LineSplitter, LogRing } from './logs.ts'

describe('LineSplitter', () => {
  it('splits a chunk holding several lines and keeps the unfinished one', () => {
    const split = new LineSplitter()
    expect(split.push('one\ntwo\nthr')).toEqual(['one', 'two'])
    expect(split.push('ee\n')).toEqual(['three'])
    expect(split.flush()).toEqual([])
  })

  it('joins a line written in several chunks', () => {
    const split = new LineSplitter()
    expect(split.push('listening ')).toEqual([])
    expect(split.push('on ')).toEqual([])
    expect(split.push('8080\n')).toEqual(['listening on 8080'])
  })

  it('drops the CR of CRLF line ends and keeps empty lines', () => {
    const split = new LineSplitter()
    expect(split.push('a\r\n\r\nb\r')).toEqual(['a', ''])
    expect(split.push('\n')).toEqual(['b'])
  })

  it('flushes the pending partial line once', () => {
    const split = new LineSplitter()
    split.push('no newline at exit')
    expect(split.flush()).toEqual(['no newline at exit'])
    expect(split.flush()).toEqual([])
  })

  it('cuts a partial line that grows past the cap, so memory stays bounded', () => {
    const split = new LineSplitter(4)
    expect(split.push('abc')).toEqual([])
    expect(split.push('defghij')).toEqual(['abcd', 'efgh'])
    expect(split.push('\n')).toEqual(['ij'])
  })

  it('cuts a finished line longer than the cap into pieces', () => {
    const split = new LineSplitter(3)
    expect(split.push('abcdefg\nhi\n')).toEqual(['abc', 'def', 'g', 'hi'])
  })
})

describe('LogRing', () => {
  it('returns the last lines, oldest first', () => {
    const ring = new LogRing(5)
    for (const line of ['a', 'b', 'c']) ring.push(line)
    expect(ring.tail(2)).toEqual(['b', 'c'])
    expect(ring.tail(10)).toEqual(['a', 'b', 'c'])
    expect(ring.tail(0)).toEqual([])
  })

  it('keeps only `capacity` lines once full, overwriting the oldest', () => {
    const ring = new LogRing(3)
    for (const line of ['1', '2', '3', '4', '5', '6', '7']) ring.push(line)
    expect(ring.size).toBe(3)
    expect(ring.tail(3)).toEqual(['5', '6', '7'])
    expect(ring.tail(2)).toEqual(['6', '7'])
  })

  it('refuses a capacity below one', () => {
    expect(() => new LogRing(0)).toThrow(RangeError)
  })
})
