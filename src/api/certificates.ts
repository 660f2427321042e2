/** @module /certificates: upload a certificate for a domain; list what is served (never keys). */
import type { FastifyPluginAsync } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { hostnameSchema } from '../config/schema.ts'

/** A served certificate as listed (public facts only). */
export interface CertificateView {
  domain: string
  source: string
  issuer: string
  validTo: string
  serialNumber: string
  /** True when it expires within 14 days (a warning is logged too). */
  expiresSoon?: boolean
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
