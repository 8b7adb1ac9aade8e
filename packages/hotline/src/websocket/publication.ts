/**
 * One publish as WebSocket subscribers share it: encoded once, whatever their number.
 *
 * A server never masks (RFC 6455 §5.1), so the frame of a message is the same bytes for
 * every peer it goes to: it is built when the first subscriber sends it uncompressed, and
 * every other queues a reference to the same buffer. Subscribers that agreed
 * server_no_context_takeover share its compression too, one per window size (RFC 7692
 * §7.1.1.1, see `shared-deflate.ts`): those jobs are kept here. Nothing is built for a
 * publish that no WebSocket subscriber sends, and the HTTP transports read only `data`
 * and `isBinary`.
 *
 * Subscribers that asked for the envelope (the universal client, `envelope=1`) get the
 * publication's bytes behind its header (`p<offset> <epoch> <len>:<topic>`, see
 * `protocol/session/envelope.ts`): that message is a second shared one, `enveloped`,
 * built once on first use with a frame and compressions of its own, so plain and
 * enveloped subscribers each share one encoding.
 */
import type { PublishedMessage } from '../pubsub/message.js';
import { encodeFrameContiguous } from '../protocol/frame-encoder.js';
import { Opcode } from '../protocol/opcode.js';
import { publicationHeader } from '../protocol/session/envelope.js';
import type { SharedDeflation, SharedMessage } from './shared-deflate.js';

export class Publication implements PublishedMessage, SharedMessage {
  /** The shared compressions started for it, one per deflater in use. */
  deflations: SharedDeflation[] | undefined = undefined;
  private plain: Buffer | undefined = undefined;
  private envelopedView: EnvelopedPublication | undefined = undefined;

  constructor(
    readonly topic: string,
    readonly data: Buffer,
    readonly isBinary: boolean,
    readonly epoch: string,
    readonly offset: number,
  ) {}

  /** The whole uncompressed frame (FIN, RSV1 clear, unmasked), built on first use. */
  get frame(): Buffer {
    return (this.plain ??= encodeFrameContiguous(this.isBinary ? Opcode.BINARY : Opcode.TEXT, this.data, {
      fin: true,
      rsv1: false,
      mask: null,
    }));
  }

  /** The same publication with its envelope header, for enveloped subscribers: built on first use. */
  get enveloped(): EnvelopedPublication {
    return (this.envelopedView ??= new EnvelopedPublication(this));
  }
}

/**
 * A publication as enveloped subscribers receive it: header and data in one buffer (a
 * WebSocket message, or one HTTP session packet), with its own frame and compressions.
 */
export class EnvelopedPublication implements SharedMessage {
  deflations: SharedDeflation[] | undefined = undefined;
  readonly data: Buffer;
  readonly isBinary: boolean;
  readonly offset: number;
  private plain: Buffer | undefined = undefined;

  constructor(publication: Publication) {
    const header = publicationHeader(publication.topic, publication.epoch, publication.offset);
    this.data = Buffer.concat([header, publication.data], header.length + publication.data.length);
    this.isBinary = publication.isBinary;
    this.offset = publication.offset;
  }

  get frame(): Buffer {
    return (this.plain ??= encodeFrameContiguous(this.isBinary ? Opcode.BINARY : Opcode.TEXT, this.data, {
      fin: true,
      rsv1: false,
      mask: null,
    }));
  }
}
