// What every browser script shares: Debian's Chromium, headless (CHROMIUM names another
// binary; no browser is ever downloaded), and checks that print `ok: ...` or `FAILED: ...` and
// decide the exit code.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

// `t.check(ok, what)` prints the outcome; `t.failed` is set by any failed check (or by hand).
export function checks() {
  const t = { failed: false };
  t.check = (ok, what) => {
    console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`);
    if (!ok) t.failed = true;
  };
  return t;
}
