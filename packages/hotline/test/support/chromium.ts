/**
 * Debian's Chromium, headless, driven by playwright-core (never a downloaded browser): the
 * binary, the flags every browser test uses, and one tab in a profile of its own that
 * `close` removes. Without the binary, `chromiumMissing` says why (a failure under CI=true).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS: readonly string[] = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** undefined when Chromium is there; otherwise the reason, for `skip`. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `no Chromium at ${CHROMIUM} (CHROMIUM_PATH; apt-get install -y chromium): the browser tests are skipped`;
  if (process.env.CI === 'true') throw new Error(`${why} — and CI=true, so this is a failure`);
  return why;
}

export class HeadlessTab {
  private constructor(
    readonly context: BrowserContext,
    readonly tab: Page,
    private readonly profile: string,
  ) {}

  /**
   * A new headless Chromium with one tab at `url`. `args` adds flags to the usual ones
   * (`--ignore-certificate-errors` for a test's self-signed certificate, say).
   */
  static async open(url: string, args: readonly string[] = []): Promise<HeadlessTab> {
    const profile = mkdtempSync(join(tmpdir(), 'hotline-chromium-'));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...args] });
    const tab = context.pages()[0] ?? (await context.newPage());
    await tab.goto(url);
    return new HeadlessTab(context, tab, profile);
  }

  async close(): Promise<void> {
    await this.context.close();
    rmSync(this.profile, { recursive: true, force: true });
  }
}
