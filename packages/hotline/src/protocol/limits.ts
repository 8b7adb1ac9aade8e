/**
 * Limits on what a peer may make us hold, each with the reason for its default. Every
 * one is checked at the earliest byte that can show it is exceeded.
 */
export interface FrameLimits {
  /**
   * Largest message, after reassembly and after inflation (bytes). Default 16 MiB: well
   * above chat, JSON and file-chunk traffic (the `ws` default is 100 MiB, which lets
   * each connection pin that much memory); an application that needs more says so.
   * A frame whose header announces more is refused (1009) before its payload is read.
   */
  maxPayload: number;
  /**
   * Most frames in one fragmented message. Default 262,144: a 4 MiB message in 16-byte
   * fragments still passes, while a peer that streams empty fragments forever to keep a
   * message open is stopped (1009). Fragment payloads are copied into one growing
   * buffer, so memory stays bounded by `maxPayload` whatever the count.
   */
  maxFragments: number;
}

export const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;
export const DEFAULT_MAX_FRAGMENTS = 262_144;

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = {
  maxPayload: DEFAULT_MAX_PAYLOAD,
  maxFragments: DEFAULT_MAX_FRAGMENTS,
};

/** RFC 6455 §5.5: all control frames MUST have a payload length of 125 bytes or less. */
export const MAX_CONTROL_PAYLOAD = 125;
