/**
 * PUT /images/{imageId}/payload: the payload of an image whose metadata createImage accepted, streamed to storage
 * (never held in memory, never base64 in JSON). The same bearer key as GraphQL; the domain checks the role, the
 * tenant, the declared size and the signed SHA-256. Answers the image as JSON.
 */
import type { ImagesService, TenancyService } from '../../domain/services.js';
import { actorOrUnauthorized, sendRefusal } from './route-auth.js';
import { sendJson, type HttpRoute } from './routes.js';

export const IMAGE_UPLOAD_PATH = /^\/images\/(?<imageId>[^/]{1,64})\/payload$/;

export function imageUploadRoute(services: { readonly tenancy: TenancyService; readonly images: Pick<ImagesService, 'uploadPayload'> }): HttpRoute {
  return {
    path: IMAGE_UPLOAD_PATH,
    methods: ['PUT'],
    async handle(req, res, ctx) {
      const actor = await actorOrUnauthorized(services.tenancy, req, res);
      // What the client still sends is read and dropped, so it sees the answer rather than a reset.
      if (actor === null) return void req.resume();
      try {
        const image = await services.images.uploadPayload(actor, ctx.params['imageId'] ?? '', req);
        sendJson(res, 200, { image: { id: image.id, status: image.status, size: image.size, sha256: image.sha256 } });
      } catch (e) {
        if (!sendRefusal(res, e)) throw e;
        req.resume();
      }
    },
  };
}
