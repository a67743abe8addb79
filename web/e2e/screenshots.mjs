// Takes the screenshots of the main views shown in the README (docs/img/), from a running
// `sitefinder serve` on the default data: `node web/e2e/screenshots.mjs http://127.0.0.1:PORT/ docs/img`.
// Headless Debian Chromium (CHROMIUM to override), as the browser tests use.
import { launch } from './harness.mjs';

const [url, dir] = process.argv.slice(2);
if (!url || !dir) {
  console.error('usage: node screenshots.mjs URL DIR');
  process.exit(2);
}
const browser = await launch();
const shot = (page, name) => page.screenshot({ path: `${dir}/${name}.png` });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('path.unit-marker', { timeout: 60000 });
  await page.waitForTimeout(2000);
  await shot(page, 'map');

  // The top unit's breakdown, zoomed in on it.
  await page.click('#ranking li:first-child');
  await page.waitForTimeout(1000);
  await page.evaluate(() => map.setView(markers.get(state.selected).getLatLng(), 15, { animate: false }));
  await page.waitForTimeout(2000);
  await page.$eval('#breakdown', (e) => e.scrollIntoView({ block: 'start' }));
  await shot(page, 'breakdown');

  // Five suggested sites, with their coverage.
  await page.evaluate(() => map.setZoom(12));
  await page.waitForTimeout(1000);
  await page.click('#o-run');
  await page.waitForSelector('#o-result .set-vs-top', { timeout: 60000 });
  await page.$eval('#suggest', (e) => e.scrollIntoView({ block: 'start' }));
  await page.waitForTimeout(1000);
  await shot(page, 'suggested');

  // A phone: the map, then the bottom sheet opened.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  await phone.goto(url, { waitUntil: 'load' });
  await phone.waitForSelector('path.unit-marker', { state: 'attached', timeout: 60000 });
  await phone.waitForTimeout(2000);
  await shot(phone, 'phone-map');
  await phone.tap('#sheet-toggle');
  await phone.waitForTimeout(800);
  await shot(phone, 'phone-sheet');
} finally {
  await browser.close();
}
