import type { AttestationService, DeploymentsService, ErrorReportsService, PresenceService } from '../domain/services.js';
import type { UpdateDelivery } from './update-target.js';
import type { Logger } from '../domain/shared/logger.js';
import type { Payload } from '../contract/mqtt/codec.js';
import type { DownMessage } from '../contract/mqtt/topics.js';
import type { BrokerLimits } from './limits.js';

export interface BrokerTlsOptions {
  /** The broker's server certificate followed by its chain (PEM). */
  readonly certificatePem: string;
  /** The server certificate's private key (PEM). Never logged. */
  readonly keyPem: string;
  /**
   * The CAs whose certificates get past the TLS handshake: the manufacturing CA (identity certificates) and the
   * platform root (device certificates from tenant CAs, which the device sends after its own certificate).
   */
  readonly trustAnchorsPem: readonly string[];
}

export interface BrokerOptions {
  readonly presence: PresenceService;
  /** Remote attestation and certificate issuance. Without it, attestation messages are refused (FORBIDDEN). */
  readonly attestation?: AttestationService;
  /** Error reports from devices. Without it, error-reports messages are refused (FORBIDDEN). */
  readonly errorReports?: ErrorReportsService;
  /** Over-the-air updates: targets sent after status reports and on pushTarget; update reports taken. */
  readonly updates?: { readonly deployments: DeploymentsService } & UpdateDelivery;
  readonly log: Logger;
  /** 0 picks a free port (see Broker.port). */
  readonly port: number;
  /** @default all interfaces */
  readonly host?: string;
  /** Stable name of this broker node, recorded with each connection (and used as the aedes broker id). */
  readonly nodeId: string;
  readonly tls: BrokerTlsOptions;
  readonly limits?: Partial<BrokerLimits>;
  /**
   * Seams for scale-out (aedes examples/clusters): an mqemitter (e.g. mqemitter-redis) and an aedes persistence
   * (e.g. aedes-persistence-redis). Default: in-process ones.
   */
  readonly aedes?: { readonly mq?: unknown; readonly persistence?: unknown };
  /** Clock for the keep-alive touch throttle. @default Date.now */
  readonly now?: () => number;
}

export interface Broker {
  /** The port actually listened on. */
  readonly port: number;
  /**
   * Stops intake, closes every device connection, and waits until their disconnections are recorded.
   * Idempotent.
   */
  close(): Promise<void>;
  /** Devices with a connection to this node. */
  connectedDevices(): number;
  /** TLS handshakes finished since start, and how many resumed a session (operators: is resumption working?). */
  tlsHandshakes(): { readonly handshakes: number; readonly resumed: number };
  /** Closes the device's connection (e.g. after revocation). False when it has none on this node. */
  disconnect(deviceId: string): Promise<boolean>;
  /** Sends the device its current target (down/update) if it is connected to this node. */
  pushTarget(deviceId: string): Promise<boolean>;
  /** Publishes a service -> device message (QoS 1, not retained); see outbound.ts. */
  sendToDevice<M extends DownMessage>(deviceId: string, message: M, payload: Payload<M>): Promise<void>;
}
