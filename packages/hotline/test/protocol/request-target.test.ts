import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { originForm } from '../../src/protocol/request-target.js';

describe('originForm (RFC 9112 §3.2)', () => {
  it('keeps an origin-form target as it is', () => {
    assert.equal(originForm('/'), '/');
    assert.equal(originForm('/chat?room=1'), '/chat?room=1');
  });

  it('routes an absolute-form target by its path and query (§3.2.2)', () => {
    assert.equal(originForm('http://example.com/chat?room=1'), '/chat?room=1');
    assert.equal(originForm('HTTP://example.com:8080/a/b'), '/a/b');
    assert.equal(originForm('ws://user@example.com/x'), '/x');
    assert.equal(originForm('https://[::1]:443/x?y=z'), '/x?y=z');
  });

  it('gives the root to an absolute-form target without a path', () => {
    assert.equal(originForm('http://example.com'), '/');
    assert.equal(originForm('http://example.com?x=1'), '/?x=1');
  });

  it('names no resource for asterisk-form, authority-form or anything else', () => {
    assert.equal(originForm('*'), null);
    assert.equal(originForm('example.com:443'), null);
    assert.equal(originForm('chat'), null);
    assert.equal(originForm(''), null);
    assert.equal(originForm('http:/example.com/x'), null);
  });
});
