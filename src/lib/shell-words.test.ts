import { describe, expect, it } from 'vitest'
import { isAssignment, splitShell } from './shell-words.ts'

const words = (source: string) => splitShell(source)?.map((c) => c.words.map((w) => w.text))

describe('splitShell', () => {
  it('splits words and keeps their source offsets', () => {
    const source = 'vite  --open'
    const [cmd] = splitShell(source) ?? []
    expect(cmd?.words).toEqual([
      { text: 'vite', start: 0, end: 4 },
      { text: '--open', start: 6, end: 12 },
    ])
    expect(cmd?.next).toBeNull()
  })

  it('cuts simple commands at ; && || | & and newlines', () => {
    const cmds = splitShell('cd web && npm run dev | tee log; echo a || b & c\nd')
    expect(cmds?.map((c) => [c.words.map((w) => w.text).join(' '), c.next])).toEqual([
      ['cd web', '&&'],
      ['npm run dev', '|'],
      ['tee log', ';'],
      ['echo a', '||'],
      ['b', '&'],
      ['c', ';'],
      ['d', null],
    ])
  })

  it('removes quotes and backslashes but leaves $VARIABLES as written', () => {
    expect(words(`vite "my app" 'a b' c\\ d --port "$PORT"`)).toEqual([
      ['vite', 'my app', 'a b', 'c d', '--port', '$PORT'],
    ])
    expect(words('echo "a \\"b\\" \\$x"')).toEqual([['echo', 'a "b" $x']])
  })

  it('drops redirections and comments', () => {
    expect(words('vite > log 2>&1 --open # a comment')).toEqual([['vite', '--open']])
    expect(words('vite &>/dev/null')).toEqual([['vite']])
  })

  it('gives up on syntax it does not model', () => {
    for (const source of [
      'vite --port $(get-port)',
      'vite --port `get-port`',
      '(cd web && vite)',
      'cat <<EOF',
      'echo "unterminated',
      "echo 'unterminated",
    ]) {
      expect(splitShell(source), source).toBeUndefined()
    }
  })
})

describe('isAssignment', () => {
  it('recognises NAME=value prefixes only', () => {
    expect(isAssignment('NODE_ENV=development')).toBe(true)
    expect(isAssignment('_X=')).toBe(true)
    expect(isAssignment('--mode=dev')).toBe(false)
    expect(isAssignment('1A=b')).toBe(false)
  })
})
