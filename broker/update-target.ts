/** A device's target (domain) as the `down/update` message: each image with the URL the device downloads it from. */
import type { Payload } from '../contract/mqtt/codec.js';
import type { DeviceTarget } from '../domain/views.js';

export interface UpdateDelivery {
  /** https://host:port of the download server, which devices reach with their certificate. */
  readonly downloadBaseUrl: string;
  /** Devices wait a random time up to this before downloading. */
  readonly delayWindowSeconds: number;
}

export const payloadPath = (imageId: string): string => `/images/${imageId}/payload`;

export function updateMessage(target: DeviceTarget, delivery: UpdateDelivery): Payload<'update'> {
  return {
    v: 1,
    deploymentId: target.deploymentId,
    delayWindowSeconds: delivery.delayWindowSeconds,
    images: target.images.map((i) => ({
      imageId: i.id,
      componentId: i.componentId,
      name: i.name,
      version: i.version,
      type: i.type,
      sha256: i.sha256,
      size: i.size,
      signature: i.signature,
      url: `${delivery.downloadBaseUrl}${payloadPath(i.id)}`,
    })),
  };
}
