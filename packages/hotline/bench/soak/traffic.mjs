// The soak's messages, and how a client checks what it receives: every echo must come
// back byte for byte and in order, and every publish must reach every reader that is not
// behind, once and in order. All messages are ASCII text, so that every transport
// carries them the same way (SSE included) and a raw client reads them as latin1.
//
//   e <n> <pad>            an echo (a client's n-th); the reply must be identical
//   j <n> {json}           an echo of a compressible ~1.5 KiB JSON (permessage-deflate clients)
//   T <seq>                the server's publish to a light topic (one seq for all topics)
//   F <seq> <pad>          the server's publish to the firehose
//   P <client> <n>         a client's publish to its topic (everyone else on it gets it)

const PAD = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.repeat(20);

/** 16 to 495 bytes of padding, varied so that frames of every small length occur. */
export function echoText(n) {
  return `e ${n} ${PAD.slice(0, 16 + ((n * 37) % 480))}`;
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

/** About 1.5 KiB of JSON, over permessage-deflate's threshold, different every time. */
export function jsonEchoText(n) {
  const items = [];
  for (let i = 0; i < 24; i++) items.push({ id: n * 24 + i, word: WORDS[(n + i) % WORDS.length], at: 1_700_000_000 + n + i });
  return `j ${n} ${JSON.stringify({ n, items })}`;
}

export function firehoseText(seq, size) {
  const head = `F ${seq} `;
  let body = PAD;
  while (body.length < size) body += PAD;
  return head + body.slice(0, Math.max(0, size - head.length));
}

export const topicText = (seq) => `T ${seq}`;
export const publishText = (client, n) => `P ${client} ${n}`;

/** The character code at `i` of a string, or the byte of a Buffer (the soak's text is ASCII). */
const codeAt = (message, i) => (typeof message === 'string' ? message.charCodeAt(i) : message[i]);

/** The decimal number that starts at `from` in `text` (up to a space or the end); NaN if none. */
function numberAt(text, from) {
  let value = 0;
  let i = from;
  for (; i < text.length; i++) {
    const c = codeAt(text, i);
    if (c === 0x20) break;
    if (c < 0x30 || c > 0x39) return NaN;
    value = value * 10 + (c - 0x30);
  }
  return i === from ? NaN : value;
}

/**
 * What a reader has seen from each source of a topic: the server, and each client that
 * publishes to it. A gap is a publish that did not arrive; a step back is a duplicate or
 * a reordering. The first message from a source only sets where it starts.
 */
export class Sequences {
  server = -1;
  /** client id → last n, made on the first client publish seen. */
  clients = null;
  gaps = 0;
  missed = 0;
  disorder = 0;

  /**
   * Reads a topic message, a string or the bytes of one (so that a firehose message is
   * never decoded whole); false when it is not one.
   */
  see(text) {
    const kind = codeAt(text, 0);
    if (kind === 0x54 /* T */ || kind === 0x46 /* F */) {
      this.server = this.step(this.server, numberAt(text, 2));
      return true;
    }
    if (kind === 0x50 /* P */) {
      const space = text.indexOf(' ', 2);
      if (space === -1) return false;
      const client = typeof text === 'string' ? text.slice(2, space) : text.toString('latin1', 2, space);
      this.clients ??= new Map();
      this.clients.set(client, this.step(this.clients.get(client) ?? -1, numberAt(text, space + 1)));
      return true;
    }
    return false;
  }

  step(last, seq) {
    if (!(seq >= 0)) {
      this.disorder++;
      return last;
    }
    if (last === -1 || seq === last + 1) return seq;
    if (seq > last + 1) {
      this.gaps++;
      this.missed += seq - last - 1;
      return seq;
    }
    this.disorder++;
    return last;
  }

  /** Takes the counts seen since the last call (the reader keeps its positions). */
  take() {
    const counts = { gaps: this.gaps, missed: this.missed, disorder: this.disorder };
    this.gaps = this.missed = this.disorder = 0;
    return counts;
  }
}
