/**
 * The WHATWG algorithm for `text/event-stream`, written as the HTML standard states it
 * (§9.2.6 "Interpreting an event stream", https://html.spec.whatwg.org/#event-stream-interpretation),
 * over a whole stream at once: the reference the incremental `SseParser` is compared with.
 */
import type { SseEvent } from '../../../src/protocol/session/wire.js';

export interface SseReading {
  events: SseEvent[];
  /** The last valid `retry` (ms), or -1. */
  retry: number;
}

export function referenceSse(bytes: Uint8Array): SseReading {
  // "Streams must be decoded using the UTF-8 decode algorithm", which strips one
  // leading BOM and replaces errors with U+FFFD.
  const stream = new TextDecoder('utf-8').decode(bytes);
  const events: SseEvent[] = [];
  let data = '';
  let eventType = '';
  let lastEventIdBuffer = '';
  let lastEventId = '';
  let retry = -1;

  const dispatch = (): void => {
    // Step 1: the last event ID string is set even when nothing is dispatched.
    lastEventId = lastEventIdBuffer;
    // Step 2: an empty data buffer resets the buffers and dispatches nothing.
    if (data === '') {
      eventType = '';
      return;
    }
    // Step 3: remove one trailing LF.
    if (data.endsWith('\n')) data = data.slice(0, -1);
    events.push({ type: eventType === '' ? 'message' : eventType, data, lastEventId });
    data = '';
    eventType = '';
  };

  const processField = (field: string, value: string): void => {
    if (field === 'event') eventType = value;
    else if (field === 'data') data += value + '\n';
    else if (field === 'id') {
      if (!value.includes('\u0000')) lastEventIdBuffer = value;
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) retry = Number.parseInt(value, 10);
    }
    // "Otherwise: the field is ignored."
  };

  // Lines end with CRLF, LF or CR; a last line without an end is never processed
  // ("any pending data must be discarded").
  let start = 0;
  for (let i = 0; i < stream.length; i++) {
    const c = stream[i];
    if (c !== '\r' && c !== '\n') continue;
    const line = stream.slice(start, i);
    if (c === '\r' && stream[i + 1] === '\n') i++;
    start = i + 1;
    if (line === '') dispatch();
    else if (line.startsWith(':')) continue;
    else {
      const colon = line.indexOf(':');
      if (colon === -1) processField(line, '');
      else {
        let value = line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        processField(line.slice(0, colon), value);
      }
    }
  }
  return { events, retry };
}
