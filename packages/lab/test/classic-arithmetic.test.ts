// The classic-arithmetic box says the right word for either ordering, and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASSIC_POLL_HEADER_BYTES, classicArithmetic, comparison } from '../src/classic-arithmetic.js';
import type { PollAnatomy } from '../src/snapshot.js';

function poll(requestBytes: number, responseHeadBytes: number, extra: Array<[string, number]> = []): PollAnatomy {
  return {
    requestBytes,
    requestHeaders: [['host', 21], ['user-agent', 125], ['accept', 13], ['sec-ch-ua', 70], ['sec-fetch-mode', 20], ...extra],
    responseHeadBytes,
    bodyBytes: 4,
  };
}

test('the comparison names the direction and the difference', () => {
  assert.equal(comparison(700, 871), '171 B lighter than');
  assert.equal(comparison(1071, 871), '200 B heavier than');
  assert.equal(comparison(871.2, 871), 'exactly the size of');
});

test('a poll lighter than 871 B is said to be lighter, by how much, with the headers that differ', () => {
  const html = classicArithmetic({ poll: poll(500, 200), averagePollBytes: 720, emptyShare: 0.5, webSocketOverhead: 2 });
  assert.match(html, /its headers are <strong>700 B<\/strong>/);
  assert.match(html, /171 B lighter than the 871 B estimate/);
  assert.doesNotMatch(html, /heavier/);
  assert.match(html, /with its body \(4 B\) the poll moved 704 B/);
  assert.match(html, /2 headers that example did not have \(<code>sec-ch-ua<\/code> 70 B, <code>sec-fetch-mode<\/code> 20 B: 90 B\)/);
  assert.match(html, /averages 720 B, and 50 % of them came back empty/);
  assert.match(html, /A WebSocket message costs 2 B beyond its payload here \(its 2–4 B frame header/);
});

test('a poll heavier than 871 B is said to be heavier, never lighter', () => {
  const html = classicArithmetic({ poll: poll(871, 200), averagePollBytes: 1075, emptyShare: 0.9, webSocketOverhead: null });
  assert.match(html, /its headers are <strong>1,071 B<\/strong>/);
  assert.match(html, /200 B heavier than the 871 B estimate/);
  assert.doesNotMatch(html, /lighter/);
  assert.doesNotMatch(html, /WebSocket message costs/);
});

test('before the first poll it waits; header names from a client are escaped', () => {
  assert.match(classicArithmetic({ poll: null, averagePollBytes: null, emptyShare: null, webSocketOverhead: null }), /waiting for the first short poll/);
  const html = classicArithmetic({ poll: poll(600, 200, [['x-<img src=x>', 20]]), averagePollBytes: null, emptyShare: null, webSocketOverhead: null });
  assert.doesNotMatch(html, /<img/);
  assert.match(html, /x-&#60;img src=x&#62;/);
  assert.equal(CLASSIC_POLL_HEADER_BYTES, 871);
});

test('over HTTP/2 it says what HPACK left of the headers, against the estimate', () => {
  const html = classicArithmetic({ poll: poll(600, 200), averagePollBytes: null, emptyShare: null, webSocketOverhead: null, http2HeaderBytes: 108 });
  assert.match(html, /speaks <strong>HTTP\/2<\/strong>/);
  assert.match(html, /<strong>108 B of headers per short poll<\/strong>, request and response, 763 B lighter than the estimate/);
  assert.match(classicArithmetic({ poll: poll(600, 200), averagePollBytes: null, emptyShare: null, webSocketOverhead: null, http2HeaderBytes: null }), /the next short polls will show/);
  assert.doesNotMatch(classicArithmetic({ poll: poll(600, 200), averagePollBytes: null, emptyShare: null, webSocketOverhead: null }), /HTTP\/2/);
});
