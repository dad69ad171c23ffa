/*
 * The status page in a real browser: Debian's chromium, headless, driven by
 * playwright-core, opens the admin listener's page of a gateway that took real
 * SMTP sessions, and the page must show their totals and plot rates, queue,
 * refusals per plugin and latency from /api/status, loading nothing from
 * anywhere else. A screenshot is saved under test-artifacts/ (path printed).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { send } from '../harness/delivery.js';
import { type Gateway, REPO, startGateway } from '../harness/gateway.js';
import { RawSmtp } from '../harness/smtp.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'status-page-token-0123456789abcdef';
const FIXTURES = join(REPO, 'test', 'fixtures', 'plugins');
export const ARTIFACTS = join(REPO, 'test-artifacts');

/** Debian's chromium, headless, with a fresh profile and nothing it would fetch on its own. */
function launchChromium(profile: string, options: { viewport?: { width: number; height: number } } = {}) {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ...options,
    timeout: 60_000,
  });
}

describe('the status page in headless chromium', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({
      plugins: `
      - use: ${join(FIXTURES, 'gatekeeper.js')}
      - use: rcpthosts
        with:
          domains: [example.test, closed.test]`,
      delivery: `
  routes:
    - { domain: closed.test, host: 127.0.0.1, port: 9, tls: none }`,
      extra: `admin:\n  port: 0\n  token: ${TOKEN}`,
    });
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  it('shows the totals and plots rates, queue, refusals per plugin and latency, from local files only', async () => {
    const url = readFileSync(join(gw.queueDir, 'admin.url'), 'utf8').trim();
    const profile = mkdtempSync(join(tmpdir(), 'qgate-chromium-'));
    const browser = await launchChromium(profile, { viewport: { width: 1280, height: 900 } });
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      const elsewhere: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(url)) elsewhere.push(r.url());
      });
      await page.goto(`${url}/#token=${TOKEN}`);
      await page.waitForFunction('Number(document.body.dataset.samples) >= 1', undefined, { timeout: 20_000 });

      // Traffic while the page watches: two queued messages and a refusal by gatekeeper.
      await send(gw, 'a@example.org', ['x@closed.test']);
      await send(gw, 'a@example.org', ['y@closed.test']);
      const { smtp } = await RawSmtp.session(gw.port);
      await smtp.command('EHLO client.test');
      assert.equal((await smtp.command('MAIL FROM:<bye@example.org>')).code, 421);
      smtp.close();
      await gw.waitForLog((l) => l.event === 'message' && l.result === 'rejected');

      await page.waitForFunction(
        "document.getElementById('total-queued').textContent === '2' && document.getElementById('total-queue').textContent === '2'",
        undefined,
        { timeout: 30_000 },
      );
      const samplesNow = Number(await page.evaluate('document.body.dataset.samples'));
      await page.waitForFunction(`Number(document.body.dataset.samples) >= ${samplesNow + 2}`, undefined, { timeout: 20_000 });

      assert.equal(await page.textContent('#state'), 'up');
      assert.equal(await page.textContent('#total-connections'), '3');
      assert.equal(await page.textContent('#total-rejected'), '1');
      assert.match((await page.textContent('#refusals-legend')) ?? '', /gatekeeper: /);
      assert.match((await page.textContent('#latency-legend')) ?? '', /rcpthosts: /);
      assert.match((await page.textContent('#queue-legend')) ?? '', /(new|deferred): /);
      assert.match((await page.textContent('#rates-legend')) ?? '', /connections: .*queued: .*rejected: /);
      // Each plot has drawn lines in the series colours, not only its grid.
      for (const id of ['rates', 'queue', 'refusals', 'latency']) {
        // Pixels far from grey: the grid and labels are grey, the series are not.
        const coloured = Number(
          await page.evaluate(`(() => {
            const canvas = document.getElementById('${id}');
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
              if (data[i + 3] > 0 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) n++;
            }
            return n;
          })()`),
        );
        assert.ok(coloured > 20, `${id}: a plotted line (${coloured} coloured pixels)`);
      }
      assert.deepEqual(elsewhere, [], 'nothing loaded from anywhere but the admin listener');

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'status-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      process.stdout.write(`# status page screenshot: ${shot}\n`);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('without the token the page says so instead of showing data', async () => {
    const url = readFileSync(join(gw.queueDir, 'admin.url'), 'utf8').trim();
    const profile = mkdtempSync(join(tmpdir(), 'qgate-chromium-'));
    const browser = await launchChromium(profile);
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      await page.goto(`${url}/`);
      await page.waitForFunction("document.getElementById('state').textContent.startsWith('down')", undefined, {
        timeout: 20_000,
      });
      assert.match((await page.textContent('#state')) ?? '', /token needed/);
      assert.equal(await page.textContent('#total-queued'), '-');
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
