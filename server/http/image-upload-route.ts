/**
 * PUT /images/{imageId}/payload: the payload of an image whose metadata createImage accepted, streamed to storage
 * (never held in memory, never base64 in JSON). The same bearer key as GraphQL; the domain checks the role, the
 * tenant, the declared size and the signed SHA-256. Answers the image as JSON.
 */
import type { ImagesService, TenancyService } from '../../domain/services.js';
import { isDomainError } from '../../domain/shared/errors.js';
import { authenticate, credentialFromAuthorizationHeader } from '../auth.js';
import { INVALID_KEY } from './authenticate-request.js';
import { sendJson, type HttpRoute } from './routes.js';

export const IMAGE_UPLOAD_PATH = /^\/images\/(?<imageId>[^/]{1,64})\/payload$/;

const HTTP_STATUS: Readonly<Record<string, number>> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, BAD_USER_INPUT: 400, CONFLICT: 409 };

export function imageUploadRoute(services: { readonly tenancy: TenancyService; readonly images: Pick<ImagesService, 'uploadPayload'> }): HttpRoute {
  return {
    path: IMAGE_UPLOAD_PATH,
    methods: ['PUT'],
    async handle(req, res, ctx) {
      const auth = await authenticate(services.tenancy, credentialFromAuthorizationHeader(req.headers.authorization));
      if (auth.status !== 'authenticated') {
        req.resume();
        return sendJson(res, 401, { error: auth.status === 'refused' ? INVALID_KEY : 'An API key is required', code: 'UNAUTHENTICATED' });
      }
      try {
        const image = await services.images.uploadPayload(auth.actor, ctx.params['imageId'] ?? '', req);
        sendJson(res, 200, { image: { id: image.id, status: image.status, size: image.size, sha256: image.sha256 } });
      } catch (e) {
        const status = isDomainError(e) ? HTTP_STATUS[e.code] : undefined;
        if (!isDomainError(e) || status === undefined) throw e;
        // What the client still sends is read and dropped, so it sees the answer rather than a reset.
        req.resume();
        sendJson(res, status, { error: e.message, code: e.code });
      }
    },
  };
}
