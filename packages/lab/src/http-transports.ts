import type { Server } from 'hotline';
import { enableHttpTransports } from 'hotline';
import type { HttpTransportName } from 'hotline';
import type { LabTransport } from './palette.js';

/** Turns on the HTTP transports (SSE, long polling, polling, interval polling) for the lab. */
export interface LabTransportOptions {
  interval: number;
  hold: number;
  maxSessions: number;
  transports: readonly LabTransport[];
}

export interface LabTransportControl {
  close(): Promise<void>;
}

export function enableLabTransports(server: Server, options: LabTransportOptions): LabTransportControl {
  const http = options.transports.filter((t): t is HttpTransportName => t !== 'websocket');
  const transports = enableHttpTransports(server, {
    transports: http,
    interval: options.interval,
    hold: options.hold,
    maxSessions: options.maxSessions,
    // Sessions must outlive a poll interval set as high as the page allows (10 s).
    sessionTimeout: Math.max(45_000, options.interval * 4),
    // Every simulated client of the lab comes from this machine's address, by design.
    maxUnconfirmedPerKey: Infinity,
    maxSessionsPerKey: Infinity,
  });
  return {
    async close() {
      transports.close();
    },
  };
}
