/**
 * The lab's transports, in the order every view shows them, with one colour each. The
 * page, its charts and the bench report's SVG charts all read this table, so a transport
 * has the same colour everywhere. Okabe–Ito colours: told apart with the common forms of
 * colour blindness. No Node imports: the browser bundle carries this file.
 */
export const LAB_TRANSPORTS = ['websocket', 'sse', 'long-polling', 'polling', 'interval-polling'] as const;
export type LabTransport = (typeof LAB_TRANSPORTS)[number];

export interface TransportLook {
  /** Name for people. */
  readonly label: string;
  readonly colour: string;
  /** One sentence for the page and the report: what the technique does on the wire. */
  readonly summary: string;
}

export const LOOK: Readonly<Record<LabTransport, TransportLook>> = {
  websocket: {
    label: 'WebSocket',
    colour: '#009E73',
    summary:
      'One HTTP request upgrades the TCP connection; from then on both sides send frames whenever they like, with 2–14 bytes of header and no HTTP headers. Full duplex over one connection.',
  },
  sse: {
    label: 'SSE',
    colour: '#0072B2',
    summary:
      'One HTTP response that never ends: the server writes an event into it as soon as there is one. Pushes at once, but one way only — anything going up (here: acknowledgements, chat) is a separate HTTP request.',
  },
  'long-polling': {
    label: 'Long polling',
    colour: '#E69F00',
    summary:
      'The client asks, the server holds the request until there is data (or a timeout), answers, and the client asks again at once. Pushes almost at once — a “pseudo long connection” — but every delivery costs a whole request and response with their headers.',
  },
  polling: {
    label: 'Short polling',
    colour: '#D55E00',
    summary:
      'The client keeps asking “anything new?” and the server answers at once, empty or not, then the client waits a pause before asking again. When data is rare most requests are useless, and a message waits for the next question.',
  },
  'interval-polling': {
    label: 'Interval (Ajax) polling',
    colour: '#CC79A7',
    summary:
      'A request on a fixed timer, every interval, whatever happened. Shorten the interval and the load rises; lengthen it and the delay rises: the two cannot both be low.',
  },
};

/** Colour for things that belong to no transport (totals, the lab's own traffic). */
export const NEUTRAL_COLOUR = '#555555';
