/** @module /certificates: upload a certificate for a domain; list what is served (never keys). */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { hostnameSchema } from '../config/schema.ts'

/**
 * A served certificate as listed (public facts only). A name ACME is still obtaining a
 * certificate for is listed with `validTo`, `issuer` and `serialNumber` null.
 */
export interface CertificateView {
  domain: string
  /** `file` (certs/), `api` (uploaded), `acme` (obtained automatically) or `dev` (dev CA). */
  source: string
  issuer: string | null
  validTo: string | null
  serialNumber: string | null
  /** True when it expires within 14 days (a warning is logged too). */
  expiresSoon?: boolean
  /** ACME only: when the next renewal (or retry) is due, ISO 8601; else null. */
  nextRenewal?: string | null
  /** ACME only: why the last order failed, null after a success; else null. */
  lastError?: string | null
}

/** What the certificates endpoints drive. */
export interface CertificatesService {
  list: () => CertificateView[]
  /** add validates, stores (0600) and installs the pair; throws PTC_ERR_CERT_INVALID. */
  add: (domain: string, keyPem: string, certPem: string) => Promise<CertificateView>
}

const PEM_LIMIT = 64 * 1024
const uploadBody = z
  .object({
    domain: hostnameSchema,
    key: z.string().min(1, { error: 'expected a PEM private key' }).max(PEM_LIMIT),
    cert: z.string().min(1, { error: 'expected a PEM certificate (chain)' }).max(PEM_LIMIT),
  })
  .strict()

/** certificatesPlugin serves `GET /certificates` and `POST /certificates {domain, key, cert}` (201). */
export function certificatesPlugin(service: CertificatesService): FastifyPluginAsync {
  return async function certificates(app) {
    const typed = app.withTypeProvider<ZodTypeProvider>()
    typed.get('/certificates', async () => service.list())
    typed.post('/certificates', { schema: { body: uploadBody } }, async (request, reply) => {
      const { domain, key, cert } = request.body
      const view = await service.add(domain, key, cert)
      reply.code(201)
      return view
    })
  }
}
