/** Types for the untyped `parse-prometheus-text-format` (tests only): prom2json-style families. */
declare module 'parse-prometheus-text-format' {
  /** One sample, or one histogram/summary series folded into `buckets`/`quantiles`, sum, count. */
  export interface ParsedSample {
    value?: string
    labels?: Record<string, string>
    buckets?: Record<string, string>
    quantiles?: Record<string, string>
    count?: string
    sum?: string
  }

  /** One metric family; `type` is upper case (`COUNTER`, `GAUGE`, `HISTOGRAM`, `UNTYPED`, …). */
  export interface ParsedFamily {
    name: string
    help: string
    type: string
    metrics: ParsedSample[]
  }

  /** parsePrometheusTextFormat parses exposition text; throws on a line it cannot read. */
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[]
}
