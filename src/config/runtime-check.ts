/** @module assertSafeRuntime: refuse to run with Node's lenient HTTP parser switched on. */

const INSECURE_PARSER = '--insecure-http-parser'

/**
 * insecureParserSource returns where Node's lenient HTTP parser was switched on
 * (`process.execArgv` or `NODE_OPTIONS`), or undefined. With it Node accepts CL+TE, bare LF,
 * obs-fold and NUL in headers: request smuggling through the edge (reliability.md §3).
 */
export function insecureParserSource(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string | undefined {
  if (execArgv.some((a) => a.startsWith(INSECURE_PARSER))) return 'the node command line'
  if (nodeOptions?.split(/\s+/).some((a) => a.startsWith(INSECURE_PARSER))) return 'NODE_OPTIONS'
  return undefined
}
