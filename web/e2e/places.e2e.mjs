// End-to-end test of orientation on the map (places.js) in real headless Chromium (Debian's),
// driven by playwright-core.
// Usage: node web/e2e/places.e2e.mjs http://127.0.0.1:PORT/ SCREENSHOT-DIR
// with E2E_POSTCODE, E2E_POSTCODE_LAT and E2E_POSTCODE_LON: a real postcode and its position
// as the postcode table gives it; with E2E_ATTRIBUTION, the attribution of the base map the
// server was started with, which the map must show.
// Checks: the postcode typed into the search box and Enter centre the map on it; ward names are
// drawn in Rochdale at zoom 14 and never take a click (the top unit's marker still opens its
// breakdown); choosing a unit selects it; the PCN filter zooms to the PCN; at 390x844 the search
// box is visible and works by keyboard. Saves places-*.png screenshots in SCREENSHOT-DIR.
// Exits 0 when every check passes; otherwise prints what failed and exits 1.
import { run, check } from './harness.mjs';

const [url, dir] = process.argv.slice(2);
const { E2E_POSTCODE: postcode, E2E_POSTCODE_LAT: plat, E2E_POSTCODE_LON: plon } = process.env;
if (!url || !dir || !postcode || !plat || !plon) {
  console.error('usage: E2E_POSTCODE=.. E2E_POSTCODE_LAT=.. E2E_POSTCODE_LON=.. node places.e2e.mjs URL SCREENSHOT-DIR');
  process.exit(2);
}
// Metres between two WGS84 points.
const metres = (a, b) => {
  const r = Math.PI / 180;
  const x = (b.lng - a.lng) * r * Math.cos(((a.lat + b.lat) / 2) * r);
  const y = (b.lat - a.lat) * r;
  return Math.sqrt(x * x + y * y) * 6371008.8;
};
const view = (page) => page.evaluate(() => ({ ...map.getCenter(), z: map.getZoom() }));
const inBbox = (c, b) => c.lng >= b[0] && c.lat >= b[1] && c.lng <= b[2] && c.lat <= b[3];
const settle = (page) => page.evaluate(() => new Promise((done) => {
  // Resolves once the map has stopped moving for 400 ms.
  let t = setTimeout(done, 400);
  map.on('move', () => { clearTimeout(t); t = setTimeout(done, 400); });
}));
const errors = [];

await run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('path.unit-marker', { timeout: 30000 });

  if (process.env.E2E_ATTRIBUTION) {
    await page.waitForFunction((a) => document.querySelector('.leaflet-control-attribution').textContent.includes(a), process.env.E2E_ATTRIBUTION, { timeout: 10000 }).catch(() => {});
    const credit = await page.locator('.leaflet-control-attribution').innerText();
    check(credit.includes(process.env.E2E_ATTRIBUTION) && credit.includes('Open Government Licence'), `the base map is credited on the map beside the data (${credit.slice(0, 60)}...)`);
  }
  // The search box is the first control of the top-left corner.
  check(await page.$eval('.leaflet-top.leaflet-left > :first-child', (e) => e.classList.contains('place-search')), 'the search box is at the top of the map');

  // A real postcode, typed in lower case without its space, then Enter: the map centres on it.
  const typed = postcode.toLowerCase().replace(/\s+/g, '');
  await page.click('#place-search');
  await page.keyboard.type(typed);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => map.getZoom() >= 15, null, { timeout: 20000 });
  await settle(page);
  const c = await view(page);
  const off = metres(c, { lat: Number(plat), lng: Number(plon) });
  check(off < 100 && c.z >= 15, `"${typed}" + Enter centres the map on ${postcode} (${off.toFixed(1)} m away, zoom ${c.z})`);
  check(await page.locator('.search-pin-label').innerText().then((t) => t.trim() === postcode), 'a marker names the postcode');
  check(await page.$eval('#place-search', (e) => e.value) === postcode, 'the box shows the postcode chosen');
  await page.screenshot({ path: `${dir}/places-postcode.png` });

  // Ward names at zoom 14 in Rochdale (a real ward: Central Rochdale, around the town centre).
  await page.evaluate(() => map.setView([53.6155, -2.158], 14, { animate: false }));
  await page.waitForFunction(() => [...document.querySelectorAll('.place-ward span')].some((e) => e.textContent === 'Central Rochdale'), null, { timeout: 20000 });
  const wards = await page.$$eval('.place-ward span', (els) => els.map((e) => e.textContent));
  check(wards.length >= 3, `ward names drawn at zoom 14 (${wards.join(', ')})`);
  check(wards.includes('Central Rochdale') && wards.includes('Milkstone & Deeplish'), 'the real wards of Rochdale town centre are named');
  check(await page.locator('.place-local_authority').count() === 0, 'no local authority names at zoom 14');
  // Labels are legible: dark text with a white halo, at least 12 px.
  const style = await page.$eval('.place-ward span', (e) => { const s = getComputedStyle(e); return { size: parseFloat(s.fontSize), shadow: s.textShadow, colour: s.color }; });
  check(style.size >= 12 && /255, 255, 255/.test(style.shadow), `ward names have a halo (${style.size}px, ${style.shadow.slice(0, 40)}...)`);
  // No label takes a click: what is under each label's centre is never the label.
  const taken = await page.$$eval('.leaflet-labels-pane .place-label span', (els) => els.filter((e) => {
    const r = e.getBoundingClientRect();
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return hit && hit.closest('.leaflet-labels-pane');
  }).length);
  check(taken === 0, `no place name takes a click (${taken})`);
  const panes = await page.evaluate(() => {
    const z = (n) => Number(getComputedStyle(document.querySelector(`.leaflet-${n}-pane`)).zIndex);
    return { areas: z('areas'), labels: z('labels'), units: z('units') };
  });
  check(panes.areas < panes.labels && panes.labels < panes.units, `labels between the areas and the units (${JSON.stringify(panes)})`);
  // The top unit's marker still opens its breakdown.
  const topName = (await page.$eval('#ranking li:first-child', (e) => e.lastChild.textContent)).trim();
  const rect = await page.$eval('.leaflet-units-pane path.unit-marker.rank-1', (e) => {
    const r = e.getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
  }).catch(() => null);
  check(rect !== null, 'the top unit is drawn at zoom 14');
  if (rect) {
    await page.mouse.click(rect.x, rect.y);
    await page.waitForSelector('#breakdown:not([hidden]) .why', { timeout: 10000 });
    check((await page.locator('#breakdown h2').innerText()).includes(topName), `a click on the top unit's marker opens its breakdown (${topName})`);
  }
  await page.screenshot({ path: `${dir}/places-wards.png` });

  // Zoomed out: local authority names instead, Rochdale's among them.
  await page.evaluate(() => map.setView([53.58, -2.25], 10, { animate: false }));
  await page.waitForFunction(() => [...document.querySelectorAll('.place-local_authority span')].some((e) => e.textContent === 'Rochdale'), null, { timeout: 20000 });
  const lads = await page.$$eval('.place-local_authority span', (els) => els.map((e) => e.textContent));
  check(lads.includes('Manchester') && lads.includes('Oldham'), `local authority names at zoom 10 (${lads.join(', ')})`);
  check(await page.locator('.place-ward').count() === 0, 'no ward names at zoom 10');
  await page.screenshot({ path: `${dir}/places-authorities.png` });

  // Results list with kinds and details; choosing a unit zooms to it and selects it.
  await page.fill('#place-search', '');
  await page.click('#place-search');
  await page.keyboard.type('baillie street');
  await page.waitForSelector('#place-results[data-q="baillie street"] li[data-kind=unit]', { timeout: 10000 });
  const first = await page.$eval('#place-results li', (e) => e.innerText);
  check(/Unit/.test(first) && /unit in Rochdale/.test(first), `results say what each is (${first.replace(/\n/g, ' | ')})`);
  await page.screenshot({ path: `${dir}/places-results.png` });
  const unitName = await page.$eval('#place-results li[data-kind=unit] b', (e) => e.textContent);
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelector('#breakdown h2')?.textContent.includes(n), unitName, { timeout: 10000 });
  const selected = await page.$eval('#ranking li.selected', (e) => e.textContent).catch(() => '');
  check(selected.includes(unitName), `choosing a unit selects it in the ranking (${unitName})`);
  check((await view(page)).z >= 17, 'and zooms to it');
  // A unit beyond the list's first page: found by its id, selected, the list turned to it.
  const last = await page.evaluate(() => ({ id: ranked[ranked.length - 1].id, name: ranked[ranked.length - 1].properties.name, n: ranked.length }));
  if (last.n > 100) {
    await page.fill('#place-search', '');
    await page.click('#place-search');
    await page.keyboard.type(last.id);
    await page.waitForSelector(`#place-results li[data-kind=unit]`, { timeout: 10000 });
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelector('#breakdown h2')?.textContent.includes(n), last.name, { timeout: 10000 });
    const onPage = await page.$eval('#ranking li.selected', (e) => e.dataset.id).catch(() => '');
    check(onPage === last.id, `a unit on the list's last page is selected from the search, the list turned to it (#${last.n})`);
  }

  // The PCN filter zooms to the PCN named.
  const pcn = await page.evaluate(async () => (await (await fetch('search?q=Rochdale%20North%20PCN')).json()).features.find((f) => f.properties.kind === 'pcn'));
  await page.evaluate(() => map.setView([53.8, -1.75], 11, { animate: false }));
  await page.fill('#f-pcn', 'Rochdale North PCN');
  await page.press('#f-pcn', 'Tab');
  await page.waitForFunction(() => map.getCenter().lat < 53.7, null, { timeout: 15000 });
  await settle(page);
  check(pcn && inBbox(await view(page), pcn.properties.bbox), `choosing the PCN filter zooms to ${pcn && pcn.properties.name}`);

  // A phone: the search box is visible and works by keyboard (arrow keys move, Enter picks).
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  phone.on('pageerror', (e) => errors.push(String(e)));
  await phone.goto(url, { waitUntil: 'load' });
  await phone.waitForSelector('path.unit-marker', { state: 'attached', timeout: 30000 });
  const sb = await phone.$eval('.place-search', (e) => e.getBoundingClientRect());
  const mp = await phone.$eval('#map', (e) => e.getBoundingClientRect());
  check(sb.width >= 200 && sb.x >= mp.x && sb.right <= mp.right && sb.y >= mp.y && sb.bottom <= mp.bottom, `at 390x844 the search box is inside the map (${Math.round(sb.width)}x${Math.round(sb.height)} px)`);
  const layersBox = await phone.$eval('.leaflet-control-layers', (e) => e.getBoundingClientRect());
  check(sb.right <= layersBox.x, 'and clear of the layers control');
  await phone.click('#place-search');
  await phone.keyboard.type('Kingsway');
  await phone.waitForSelector('#place-results[data-q="Kingsway"] li', { timeout: 10000 });
  const kingsways = await phone.$$eval('#place-results li', (els) => els.map((e) => e.querySelector('.detail').textContent));
  const rochdale = kingsways.findIndex((d) => d.startsWith('ward in Rochdale'));
  check(rochdale >= 0, `"Kingsway" lists the Rochdale ward among others (${kingsways.join('; ')})`);
  await phone.screenshot({ path: `${dir}/places-phone.png` });
  for (let i = 0; i <= rochdale; i++) await phone.keyboard.press('ArrowDown');
  check(await phone.$eval('#place-results li[aria-selected=true] .detail', (e) => e.textContent.startsWith('ward in Rochdale')), 'the arrow keys move to it');
  const kingsway = await phone.evaluate(async () => (await (await fetch('search?q=Kingsway,%20Rochdale')).json()).features[0]);
  await phone.keyboard.press('Enter');
  await settle(phone);
  const pc = await view(phone);
  check(kingsway.properties.id === 'E05014040' && inBbox(pc, kingsway.properties.bbox), `Enter zooms to Kingsway, Rochdale (E05014040; centre ${pc.lat.toFixed(4)}, ${pc.lng.toFixed(4)})`);
  await phone.screenshot({ path: `${dir}/places-phone-ward.png` });
  await phone.close();

  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
});
