// Opens a report in Debian's headless Chromium (driven by playwright-core, no browser
// download) and reads back what a person would see: the text, each SVG's drawn size, a
// screenshot.  Flags as this machine needs them: no sandbox as root, no background
// networking (the network is closed), no GPU.
import { chromium } from 'playwright-core';

export interface PageLook {
  text: string;
  vms: { name: string; state: string }[];
  svgs: { label: string; width: number; height: number }[];
  screenshotBytes: number;
}

export async function lookAt(file: string, screenshot: string): Promise<PageLook> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`file://${file}`);
    // biome-ignore lint/performance/useDomNodeTextContent: the text a reader sees (innerText), not every node's
    const text = await page.innerText('body');
    const vms = await page.$$eval('[data-vm]', (els) => els.map((e) => ({ name: e.getAttribute('data-vm') ?? '', state: e.getAttribute('data-state') ?? '' })));
    const svgs = await page.$$eval('svg', (els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { label: e.getAttribute('aria-label') ?? '', width: r.width, height: r.height };
      }),
    );
    const png = await page.screenshot({ path: screenshot, fullPage: true });
    return { text, vms, svgs, screenshotBytes: png.length };
  } finally {
    await browser.close();
  }
}
