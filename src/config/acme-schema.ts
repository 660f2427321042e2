/** @module zod schemas for `edge.acme` (automatic certificates) and `edge.accessLog` (access log file). */
import { z } from 'zod'
import {
  ACCESS_LOG_FILES_KEPT,
  ACCESS_LOG_MAX_BYTES,
  ACME_RENEWAL_WINDOW_RATIO,
  LETS_ENCRYPT_DIRECTORY,
  LETS_ENCRYPT_STAGING_DIRECTORY,
} from './defaults.ts'

const challengesSchema = z
  .object({
    http01: z
      .boolean()
      .default(true)
      .describe(
        'Answer HTTP-01 challenges on the HTTP listener (port 80 in production). Default true.',
      ),
    tlsAlpn01: z
      .boolean()
      .default(true)
      .describe('Answer TLS-ALPN-01 challenges on the HTTPS listener (port 443). Default true.'),
  })
  .strict()

/**
 * `edge.acme`: with it, Portico obtains and renews a certificate (RFC 8555) for every routed
 * public hostname that has no certificate file. Setting it means agreeing to the CA's terms of
 * service (Let's Encrypt's by default).
 */
export const acmeSchema = z
  .object({
    email: z
      .email({ error: 'expected an e-mail address for the ACME account' })
      .describe('Contact address of the ACME account (expiry and policy notices).'),
    directory: z
      .url({ protocol: /^https$/, error: 'expected an https:// ACME directory URL' })
      .optional()
      .describe(
        `ACME directory URL. Default Let's Encrypt production (${LETS_ENCRYPT_DIRECTORY}).`,
      ),
    staging: z
      .boolean()
      .default(false)
      .describe(
        `Use Let's Encrypt staging (${LETS_ENCRYPT_STAGING_DIRECTORY}): untrusted certificates, generous rate limits.`,
      ),
    caBundle: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PEM file (absolute or relative to the config file) trusted for the directory's own HTTPS, besides the system roots (a test CA such as Pebble).",
      ),
    challenges: challengesSchema
      .default({ http01: true, tlsAlpn01: true })
      .describe('Which challenge types to answer; at least one.'),
    renewalWindowRatio: z
      .number({ error: 'expected a number greater than 0 and at most 1' })
      .gt(0, { error: 'expected a number greater than 0 and at most 1' })
      .lte(1, { error: 'expected a number greater than 0 and at most 1' })
      .default(ACME_RENEWAL_WINDOW_RATIO)
      .describe(
        'Renew when this share of the lifetime is left. Default 1/3 (at two thirds of the lifetime); 1 renews every certificate at the next start.',
      ),
  })
  .strict()
  .superRefine((acme, ctx) => {
    if (acme.directory !== undefined && acme.staging) {
      ctx.addIssue({
        code: 'custom',
        path: ['staging'],
        message: 'expected either "directory" or "staging", not both',
      })
    }
    if (!acme.challenges.http01 && !acme.challenges.tlsAlpn01) {
      ctx.addIssue({
        code: 'custom',
        path: ['challenges'],
        message: 'expected at least one of http01 or tlsAlpn01 to be true',
      })
    }
  })

/** `edge.accessLog`: the access log written to a size-rotated file instead of stdout. */
export const accessLogSchema = z
  .object({
    file: z
      .string()
      .min(1)
      .describe('Log file, absolute or relative to the config file; rotated copies get .1, .2, …'),
    maxBytes: z
      .number()
      .int()
      .min(4096, { error: 'expected at least 4096 bytes' })
      .default(ACCESS_LOG_MAX_BYTES)
      .describe('Size at which the file is rotated, in bytes. Default 10 MiB.'),
    keep: z
      .number()
      .int()
      .min(1, { error: 'expected at least 1 file' })
      .max(100)
      .default(ACCESS_LOG_FILES_KEPT)
      .describe('Files kept, the live one included. Default 5.'),
  })
  .strict()

export type AcmeConfig = z.output<typeof acmeSchema>
export type AccessLogConfig = z.output<typeof accessLogSchema>
