/**
 * Universal clients in headless Chromium, in a page served by the cluster through nginx
 * (the nodes serve `/` and `/hotline.js`). The page records what each client sees on the
 * topic as `Observed` events; `sync` brings the new ones back and hands them to the
 * checker, so that the browser clients are judged by the same rules as the Node ones.
 */
import type { Page } from 'playwright-core';
import type { TransportName } from '../../src/browser/options.js';
import { HeadlessTab } from '../support/chromium.js';
import { Checked, type Observed } from './checker.js';

export { chromiumMissing } from '../support/chromium.js';

interface Plan {
  readonly name: string;
  readonly transport: TransportName;
}

export class BrowserClients {
  readonly checked: Checked[] = [];
  private readonly seen = new Map<string, Observed[]>();

  private readonly tab: Page;

  private constructor(private readonly browser: HeadlessTab) {
    this.tab = browser.tab;
  }

  /** Opens `url` (the cluster's page) in a new headless Chromium. */
  static async open(url: string): Promise<BrowserClients> {
    const browser = await HeadlessTab.open(url);
    await browser.tab.waitForFunction(() => 'hotline' in globalThis, undefined, { timeout: 10_000 });
    return new BrowserClients(browser);
  }

  /** Connects `perTransport` clients on each transport to `path` (the page's origin), all on `topic`. */
  async connect(path: string, topic: string, transports: readonly TransportName[], perTransport: number, reconnect: object): Promise<void> {
    const plans: Plan[] = transports.flatMap((transport) => Array.from({ length: perTransport }, (_, i) => ({ name: `chromium ${transport}#${i}`, transport })));
    await this.tab.evaluate(
      ({ plans, path, topic, reconnect }) => {
        type Client = EventTarget & { close(): void };
        const page = globalThis as unknown as {
          hotline: { connect(url: string, options: object): Client };
          records: Record<string, unknown[]>;
          clients: Client[];
        };
        page.records ??= {};
        page.clients ??= [];
        for (const { name, transport } of plans) {
          const events: unknown[] = (page.records[name] = []);
          const client = page.hotline.connect(path, { transports: [transport], reconnect });
          page.clients.push(client);
          const note = (text: string) => events.push({ type: 'note', at: Date.now(), note: text });
          client.addEventListener('message', (event) => {
            const { data, topic: on, position } = event as Event & { data: unknown; topic?: string; position?: { epoch: string; offset: number } };
            if (on !== topic) return;
            events.push({ type: 'message', at: Date.now(), data: String(data), position: position === undefined ? null : { epoch: position.epoch, offset: position.offset } });
          });
          client.addEventListener('recovery', (event) => {
            const { topic: on, recovered, reason, epoch, offset } = event as Event & { topic: string; recovered: boolean; reason?: string; epoch: string; offset: number };
            if (on === topic) events.push({ type: 'recovery', at: Date.now(), recovered, reason, epoch, offset });
          });
          for (const type of ['open', 'resume', 'transport']) client.addEventListener(type, (event) => note(`${type} ${(event as Event & { sid: string }).sid}`));
          client.addEventListener('close', (event) => note(`close ${(event as Event & { code: number }).code} ${(event as Event & { reason: string }).reason}`));
          client.addEventListener('error', (event) => note(`error ${(event as Event & { message: string }).message}`));
        }
      },
      { plans, path, topic, reconnect },
    );
    for (const { name } of plans) {
      this.seen.set(name, []);
      this.checked.push(new Checked(name));
    }
  }

  /** Brings back what the page recorded since the last call, and hands it to the checker. */
  async sync(): Promise<void> {
    const counts = Object.fromEntries([...this.seen].map(([name, events]) => [name, events.length]));
    const fresh = await this.tab.evaluate((counts) => {
      const records = (globalThis as unknown as { records: Record<string, unknown[]> }).records;
      return Object.fromEntries(Object.entries(records).map(([name, events]) => [name, events.slice(counts[name] ?? 0)]));
    }, counts);
    for (const checked of this.checked) {
      const events = this.seen.get(checked.name)!;
      events.push(...((fresh[checked.name] ?? []) as Observed[]));
      checked.record(events);
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
