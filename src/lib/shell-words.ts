/** @module splitShell: a POSIX sh command line cut into simple commands and words, with their source offsets. */

/** One word of a simple command: its value with quotes removed, and where it sits in the source. */
export interface ShellWord {
  /** The word as the shell would pass it, quotes and backslashes removed; `$VAR` left as written. */
  text: string
  /** Offset of its first character in the source. */
  start: number
  /** Offset just past its last character in the source. */
  end: number
}

/** What ends a simple command: a list or pipe operator, or the end of the line. */
export type ShellSeparator = ';' | '&&' | '||' | '|' | '&' | null

/** One simple command: its argument words (redirections left out) and what follows it. */
export interface SimpleCommand {
  words: ShellWord[]
  next: ShellSeparator
}

const OPERATORS = ['&&', '||', ';', '|', '&', '\n'] as const
const UNSUPPORTED = /^(\$\(|`|\(|\)|<<)/

/** Thrown inside the tokenizer for syntax it does not model; splitShell returns undefined. */
class Unsupported extends Error {}

/**
 * splitShell cuts a command line as `/bin/sh -c` reads it into simple commands separated by
 * `;`, `&&`, `||`, `|`, `&` or newlines. Quotes and backslashes are honoured; redirections
 * (`> log`, `2>&1`) are dropped from the words; a `#` comment ends the line. Syntax it does not
 * model (command substitution, subshells, here-documents, an unterminated quote) makes it return
 * undefined, so callers leave such a command alone rather than guess. Pure.
 */
export function splitShell(source: string): SimpleCommand[] | undefined {
  try {
    return new Tokenizer(source).commands()
  } catch (error) {
    if (error instanceof Unsupported) return undefined
    throw error
  }
}

/**
 * isAssignment reports whether a word is a `NAME=value` prefix (`NODE_ENV=dev vite`), which
 * the shell turns into an environment variable of the command rather than an argument.
 */
export function isAssignment(word: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*=/.test(word)
}

class Tokenizer {
  readonly #s: string
  #i = 0

  constructor(source: string) {
    this.#s = source
  }

  commands(): SimpleCommand[] {
    const out: SimpleCommand[] = []
    let words: ShellWord[] = []
    for (;;) {
      this.#skipBlanks()
      if (this.#i >= this.#s.length || this.#s[this.#i] === '#') {
        if (words.length > 0) out.push({ words, next: null })
        return out
      }
      const op = this.#operator()
      if (op !== undefined) {
        if (words.length > 0) out.push({ words, next: op === '\n' ? ';' : op })
        words = []
        continue
      }
      if (UNSUPPORTED.test(this.#s.slice(this.#i))) throw new Unsupported()
      if (this.#redirection()) continue
      words.push(this.#word())
    }
  }

  #skipBlanks(): void {
    while (this.#s[this.#i] === ' ' || this.#s[this.#i] === '\t') this.#i++
    // A backslash-newline joins lines.
    if (this.#s.startsWith('\\\n', this.#i)) {
      this.#i += 2
      this.#skipBlanks()
    }
  }

  #operator(): (typeof OPERATORS)[number] | undefined {
    const op = OPERATORS.find((o) => this.#s.startsWith(o, this.#i))
    if (op === undefined) return undefined
    // `&>` and `>&` belong to redirections, handled there.
    if (op === '&' && this.#s[this.#i + 1] === '>') return undefined
    this.#i += op.length
    return op
  }

  /** Skips `[n]>file`, `[n]>>file`, `[n]>&m`, `<file`, `&>file`; true if one was there. */
  #redirection(): boolean {
    const match = /^(\d*(>>|>&|<&|>\||>|<)|&>>?)/.exec(this.#s.slice(this.#i))
    if (match === null) return false
    this.#i += match[0].length
    this.#skipBlanks()
    if (this.#i >= this.#s.length) throw new Unsupported()
    this.#word()
    return true
  }

  #word(): ShellWord {
    const start = this.#i
    let text = ''
    while (this.#i < this.#s.length) {
      const c = this.#s[this.#i] as string
      if (c === ' ' || c === '\t' || c === '\n' || c === ';' || c === '|' || c === '&') break
      if (c === '<' || c === '>' || c === '(' || c === ')' || c === '`') throw new Unsupported()
      if (c === "'") text += this.#singleQuoted()
      else if (c === '"') text += this.#doubleQuoted()
      else if (c === '\\') text += this.#escaped()
      else if (c === '$' && this.#s[this.#i + 1] === '(') throw new Unsupported()
      else {
        text += c
        this.#i++
      }
    }
    return { text, start, end: this.#i }
  }

  #singleQuoted(): string {
    const close = this.#s.indexOf("'", this.#i + 1)
    if (close === -1) throw new Unsupported()
    const text = this.#s.slice(this.#i + 1, close)
    this.#i = close + 1
    return text
  }

  #doubleQuoted(): string {
    let text = ''
    this.#i++
    while (this.#i < this.#s.length) {
      const c = this.#s[this.#i] as string
      if (c === '"') {
        this.#i++
        return text
      }
      if (c === '`' || (c === '$' && this.#s[this.#i + 1] === '(')) throw new Unsupported()
      if (c === '\\' && '"\\$`\n'.includes(this.#s[this.#i + 1] ?? '')) {
        if (this.#s[this.#i + 1] !== '\n') text += this.#s[this.#i + 1]
        this.#i += 2
        continue
      }
      text += c
      this.#i++
    }
    throw new Unsupported()
  }

  #escaped(): string {
    const next = this.#s[this.#i + 1]
    this.#i += 2
    if (next === undefined) throw new Unsupported()
    return next === '\n' ? '' : next
  }
}
