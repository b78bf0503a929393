/**
 * GET /tenants/{tenantId}/crl: the tenant's current CRLs (one per unexpired tenant CA), PEM. Public, as CRL
 * distribution points are: a CRL is signed by the CA it speaks for, and relying parties fetch it without keys.
 */
import type { CertificatesService } from '../../domain/services.js';
import { isDomainError } from '../../domain/shared/errors.js';
import { sendJson, type HttpRoute } from './routes.js';

export const CRL_PATH = /^\/tenants\/(?<tenantId>[^/]{1,64})\/crl$/;

export function crlRoute(certificates: Pick<CertificatesService, 'crls'>): HttpRoute {
  return {
    path: CRL_PATH,
    methods: ['GET', 'HEAD'],
    async handle(req, res, ctx) {
      let pem: string;
      try {
        pem = await certificates.crls(ctx.params['tenantId'] ?? '');
      } catch (e) {
        if (isDomainError(e) && e.code === 'NOT_FOUND') return sendJson(res, 404, { error: 'No such tenant' });
        throw e;
      }
      res.writeHead(200, {
        'content-type': 'application/x-pem-file',
        'content-length': Buffer.byteLength(pem),
        // Relying parties should re-fetch: a revocation re-signs the CRL at once.
        'cache-control': 'no-cache',
      });
      res.end(req.method === 'HEAD' ? undefined : pem);
    },
  };
}
