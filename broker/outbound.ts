/** Service -> device messages: the one way the service writes to a device's `down/` topics. */
import type { Aedes, PublishPacket } from 'aedes';
import { encode, type Payload } from '../contract/mqtt/codec.js';
import { downTopic, type DownMessage } from '../contract/mqtt/topics.js';

export interface Outbound {
  /**
   * Publishes `payload` to `devices/{deviceId}/down/{message}` at QoS 1, not retained. Resolves once the broker has
   * routed it to the device's subscription (not when the device acknowledges it). A device that is offline or not
   * subscribed does not get it: what a device is owed is re-derived from the database when it connects.
   */
  sendToDevice<M extends DownMessage>(deviceId: string, message: M, payload: Payload<M>): Promise<void>;
}

export function createOutbound(aedes: Aedes): Outbound {
  return {
    sendToDevice(deviceId, message, payload) {
      const packet: PublishPacket = {
        cmd: 'publish',
        topic: downTopic(deviceId, message),
        payload: encode(message, payload),
        qos: 1,
        retain: false,
        dup: false,
      };
      return new Promise<void>((resolve, reject) => {
        aedes.publish(packet, (error) => (error ? reject(error) : resolve()));
      });
    },
  };
}
