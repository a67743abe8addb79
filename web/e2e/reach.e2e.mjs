// End-to-end test: with many units served (all West Yorkshire's vacant units), every unit that
// passes the filters can be reached on the map (its own marker, or the list of a marker shared by
// units at one spot) and in the list (page by page).
// Usage: node web/e2e/reach.e2e.mjs http://127.0.0.1:PORT/ SCREENSHOT.png
// Exits 0 when every check passes; otherwise prints what failed and exits 1.
import { run, check } from './harness.mjs';

const [url, shot] = process.argv.slice(2);
if (!url || !shot) {
  console.error('usage: node reach.e2e.mjs URL SCREENSHOT.png');
  process.exit(2);
}
await run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('path.unit-marker', { timeout: 60000 });
  await page.waitForTimeout(1000);
  const matched = Number((await page.locator('#count').innerText()).match(/\(([\d,]+) units/)[1].replace(/,/g, ''));
  check(matched > 1000, `${matched} units served`);

  // The map: the rank of every unit, from single markers and from the lists of shared ones.
  const seen = new Set();
  const singles = await page.$$eval('path.unit-marker:not(.unit-group)', (els) => els.map((e) => Number(e.getAttribute('class').match(/rank-(\d+)/)[1])));
  for (const r of singles) seen.add(r);
  // Each shared marker clicked in the page (its own click handler opens the list), in one go.
  const fromGroups = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('path.unit-group')) {
      el.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      out.push([...document.querySelectorAll('.spot-list li')].map((li) => Number(li.textContent.match(/#(\d+)/)[1])));
      map.closePopup();
    }
    return out;
  });
  const groups = fromGroups.length;
  const listedInGroups = fromGroups.reduce((n, g) => n + g.length, 0);
  for (const g of fromGroups) for (const r of g) seen.add(r);
  const missing = [];
  for (let r = 1; r <= matched; r++) if (!seen.has(r)) missing.push(r);
  check(missing.length === 0 && seen.size === matched,
    `every unit is on the map: ${singles.length} alone, ${listedInGroups} in the lists of ${groups} shared markers (missing: ${missing.slice(0, 10).join(', ')})`);

  // A real click on the marker shared by the most units, zoomed in on it, lists them all.
  const biggest = await page.$$eval('.unit-count', (els) => Math.max(...els.map((e) => Number(e.textContent))));
  await page.evaluate((b) => {
    let at = null;
    layers.units.eachLayer((l) => { if (l instanceof L.CircleMarker && l.getTooltip() && l.getTooltip().getContent().startsWith(`${b} units here`)) at = l.getLatLng(); });
    map.setView(at, 17, { animate: false });
  }, biggest);
  const centre = await page.evaluate(() => { const r = document.getElementById('map').getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; });
  await page.mouse.click(centre.x, centre.y);
  await page.waitForSelector('.spot-list li', { timeout: 5000 }).catch(() => null);
  const listed = await page.locator('.spot-list li').count();
  check(listed === biggest, `a click on the marker of ${biggest} units at one spot lists all ${listed}`);
  await page.screenshot({ path: shot });

  // The list: page by page, every unit once.
  const ids = new Set();
  let pages = 0;
  for (;;) {
    const pageIds = await page.$$eval('#ranking li', (els) => els.map((e) => e.dataset.id));
    for (const id of pageIds) ids.add(id);
    pages++;
    if (await page.locator('#pager-next').isDisabled()) break;
    const start = await page.$eval('#ranking', (e) => e.start);
    await page.click('#pager-next');
    await page.waitForFunction((s) => document.querySelector('#ranking').start !== s, start, { timeout: 10000 });
  }
  check(ids.size === matched, `the list reaches every unit: ${ids.size} in ${pages} pages`);
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
});
