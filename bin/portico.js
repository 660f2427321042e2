#!/usr/bin/env node
// The portico command. From a source checkout it runs src/cli.ts through tsx (Node 20 cannot
// strip types itself); an installed build without src/ runs the compiled dist/cli.js.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(pathToFileURL(source).href)
} else {
  await import('../dist/cli.js')
}
