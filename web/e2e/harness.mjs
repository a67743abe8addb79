// What every browser script shares: Debian's Chromium, headless (CHROMIUM names another
// binary; no browser is ever downloaded), checks that print `ok: ...` or `FAILED: ...`, and a
// run that closes the browser and exits 1 if any check failed or the script threw.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

let failed = false;

export function check(ok, what) {
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failed = true;
}

// Runs `body(browser)`; exits 0 when every check passed, else 1.
export async function run(body) {
  const browser = await launch();
  try {
    await body(browser);
  } catch (e) {
    console.error(`FAILED: ${e.message}`);
    failed = true;
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}
