/**
 * The socket that carries an HTTP session after an upgrade, as an owner of the WebSocket
 * shell: a client shell over an in-memory duplex pair plays the browser, a recording
 * session stands for the HTTP session. No server, no TCP.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Side } from '../../src/protocol/side.js';
import { DEFAULT_SERVER_OPTIONS } from '../../src/server/options.js';
import { Sweep } from '../../src/timers/sweep.js';
import { ByteBudget } from '../../src/resources/byte-budget.js';
import { type CarriedSession, SessionSocket, type SessionSocketHost } from '../../src/transports/session-socket.js';
import { duplexPair } from '../support/duplex-pair.js';
import { DEFAULT_SHELL_OPTIONS, openShell } from '../support/shell-pair.js';
import { eventually } from '../support/timing.js';

class RecordingSession implements CarriedSession {
  readonly calls: string[] = [];
  accept = true;
  upgradeTo(socket: SessionSocket, ack: number): boolean {
    this.calls.push(`upgrade ${ack}`);
    if (this.accept) socket.carry();
    return this.accept;
  }
  carrierMessage(data: Buffer, isBinary: boolean): void {
    this.calls.push(`message ${isBinary ? 'b' : 't'} ${data.toString()}`);
  }
  carrierDrain(): void {
    this.calls.push('drain');
  }
  carrierClosed(_socket: SessionSocket, code: number): void {
    this.calls.push(`closed ${code}`);
  }
}

function carrier(session: RecordingSession) {
  const sweep = new Sweep(1000);
  const host: SessionSocketHost = {
    options: { ...DEFAULT_SERVER_OPTIONS, idleTimeout: 0 },
    sweep,
    partial: new ByteBudget('maxPartialBytes', 1024 * 1024),
    outbound: new ByteBudget('maxOutboundBytes', 1024 * 1024),
  };
  const { client: clientEnd, server: serverEnd } = duplexPair();
  const socket = new SessionSocket(serverEnd, Buffer.alloc(0), host, session);
  const browser = openShell('browser', clientEnd, sweep, { ...DEFAULT_SHELL_OPTIONS, side: Side.CLIENT });
  return { socket, browser };
}

describe('SessionSocket over a duplex pair', () => {
  it('answers a probe, switches on `upgrade N`, then carries the messages both ways', async () => {
    const session = new RecordingSession();
    const { socket, browser } = carrier(session);
    browser.shell.send(Buffer.from('probe'), false);
    assert.equal((await browser.next('message')).data.toString(), 'probe');
    browser.shell.send(Buffer.from('upgrade 7'), false);
    browser.shell.send(Buffer.from('hello'), false);
    browser.shell.send(Buffer.from([1, 2]), true);
    await eventually(() => session.calls.length === 3, 2000, 'the upgrade and two messages');
    assert.equal(socket.sendData(Buffer.from('from the session'), false, undefined), 'sent');
    assert.equal((await browser.next('message', 2)).data.toString(), 'from the session');
    assert.deepEqual(session.calls, ['upgrade 7', 'message t hello', 'message b \u0001\u0002']);
    assert.equal(socket.bufferedAmount, 0);
    socket.close(1000, 'done');
    assert.equal((await browser.next('close')).code, 1000);
    await eventually(() => session.calls.at(-1) === 'closed 1000', 2000, 'the session to hear the close');
  });

  it('closes with 1008 on anything but a control message before the upgrade', async () => {
    const session = new RecordingSession();
    const { browser } = carrier(session);
    browser.shell.send(Buffer.from('hello too soon'), false);
    const close = await browser.next('close');
    assert.deepEqual([close.code, close.reason], [1008, 'expected probe or upgrade']);
    await eventually(() => session.calls.length > 0, 2000, 'the session to hear the close');
    assert.deepEqual(session.calls, ['closed 1008']);
  });

  it('closes with 1008 when the session refuses the upgrade', async () => {
    const session = new RecordingSession();
    session.accept = false;
    const { browser } = carrier(session);
    browser.shell.send(Buffer.from('upgrade 3'), false);
    assert.equal((await browser.next('close')).code, 1008);
    await eventually(() => session.calls.length === 2, 2000, 'the session to hear the close');
    assert.deepEqual(session.calls, ['upgrade 3', 'closed 1008']);
  });
});
