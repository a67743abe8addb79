// End-to-end test of the map in real headless Chromium (Debian's), driven by playwright-core.
// Usage: node web/e2e/map.e2e.mjs http://127.0.0.1:PORT/ SCREENSHOT.png
// With E2E_TOKEN (the server's write token), E2E_PLAN (a plan GeoJSON) and E2E_XLSX (where to
// save the downloaded workbook) it also uploads an overlay, builds a shortlist and downloads it,
// then makes a shortlist of the top 5 places.
// Exits 0 when every check passes; otherwise prints what failed and exits 1.
import { run, check } from './harness.mjs';

const [url, shot] = process.argv.slice(2);
if (!url || !shot) {
  console.error('usage: node map.e2e.mjs URL SCREENSHOT.png');
  process.exit(2);
}
await run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });

  await page.waitForSelector('path.unit-marker', { timeout: 30000 });
  await page.waitForSelector('path.lsoa', { timeout: 30000 });
  const units = await page.locator('path.unit-marker').count();
  const lsoas = await page.locator('path.lsoa').count();
  check(units > 50, `candidate units drawn (${units})`);
  // No view in the link: the first view fits every unit served.
  await page.waitForTimeout(1000);
  const inView = await page.$$eval('.leaflet-units-pane path.unit-marker', (els) => {
    const m = document.getElementById('map').getBoundingClientRect();
    return els.filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.x >= m.x - 1 && r.right <= m.right + 1 && r.y >= m.y - 1 && r.bottom <= m.bottom + 1;
    }).length;
  });
  check(inView === units, `the first view fits every unit served (${inView} of ${units} in view)`);
  check(lsoas > 20, `LSOA polygons drawn (${lsoas})`);
  check(await page.locator('.leaflet-control-attribution').innerText().then((t) => t.includes('Open Government Licence')), 'OGL attribution on the map');
  check(await page.locator('.legend').count() === 1, 'legend shown');

  const order = () => page.$$eval('#ranking li', (els) => els.map((e) => e.dataset.id).join(','));
  const before = await order();
  // The window of units drawn carries no words (a small answer over all England): a unit's
  // breakdown is asked for when it is opened.
  const light = await page.evaluate(() => ranked.length > 0 && ranked.every((f) => !f.properties.breakdown && Object.keys(f.properties).sort().join() === 'name,postcode,rank,score'));
  check(light, 'the window of units drawn holds rank, score, name and postcode only, no breakdown');
  // Every unit is on the map: one marker per spot, with the number of units at a shared spot.
  const matched = Number((await page.locator('#count').innerText()).match(/\(([\d,]+) units/)[1].replace(/,/g, ''));
  const counts = await page.$$eval('.unit-count', (els) => els.map((e) => Number(e.textContent)));
  const groups = await page.locator('path.unit-group').count();
  const drawnUnits = units - groups + counts.reduce((a, b) => a + b, 0);
  check(groups === counts.length && drawnUnits === matched, `the map holds every unit: ${units} markers, ${groups} of them for ${drawnUnits - units + groups} units at shared spots, ${matched} in all`);
  // The list pages through them, 100 at a time.
  check(before.split(',').length === Math.min(100, matched), `the list's first page holds ${before.split(',').length} units`);
  if (matched > 100) {
    check((await page.locator('#pager-text').innerText()).startsWith('1–100 of'), 'the pager says which units are listed');
    await page.click('#pager-next');
    await page.waitForFunction(() => document.querySelector('#ranking').start === 101, null, { timeout: 5000 });
    check(await page.locator('#ranking li').count() === matched - 100, `the next page lists the other ${matched - 100}`);
    await page.click('#pager-prev');
    await page.waitForFunction(() => document.querySelector('#ranking').start === 1, null, { timeout: 5000 });
  }
  // A shared spot lists its units; choosing one opens its breakdown.
  if (groups) {
    await page.locator('path.unit-group').first().dispatchEvent('click');
    await page.waitForSelector('.spot-list li', { timeout: 5000 });
    const listed = await page.locator('.spot-list li').count();
    check(listed >= 2, `a marker for several units lists them (${listed})`);
    const second = (await page.locator('.spot-list li').nth(1).innerText()).replace(/^[\d.]+\s*#\d+\s*/, '').trim();
    const asked = page.waitForRequest((r) => /\/rank\?/.test(r.url()) && /[?&]limit=1(&|$)/.test(r.url()) && /[?&]offset=\d+/.test(r.url()), { timeout: 5000 });
    await page.locator('.spot-list li').nth(1).click();
    check(Boolean(await asked), 'opening a unit asks for its row of the same ranking, by its rank');
    await page.waitForSelector('#breakdown:not([hidden]) .why', { timeout: 5000 });
    check((await page.locator('#breakdown h2').innerText()).includes(second.split('\n')[0].replace(/^[\d.]+/, '').trim()), `choosing a unit of the list opens its breakdown (${second})`);
  }
  // Each criterion is explained where it is set, with a link to its scale.
  check(await page.locator('.weight .explain').count() === 7, 'each weight slider has a sentence');
  const help = await page.evaluate(async () => (await fetch('help.html')).text());
  for (const c of ['deprivation', 'reach', 'demand', 'gap', 'access', 'suitability', 'plan', 'suggested']) {
    check(help.includes(`id="${c}"`), `help.html explains ${c}`);
  }
  const sources = await page.evaluate(async () => { const r = await fetch('attribution', { headers: { accept: 'text/html' } }); return [r.headers.get('content-type'), await r.text()]; });
  check(sources[0].startsWith('text/html') && sources[1].includes('Data sources and attribution') && sources[1].includes('Open Government Licence'), 'the sources page is HTML for a browser');

  // Back to the first page of the list, then move two sliders: gap to 10, deprivation to 0.
  while (await page.$eval('#ranking', (e) => e.start) !== 1) await page.click('#pager-prev');
  const firstPage = await order();
  for (const [id, v] of [['#w-gap', '10'], ['#w-deprivation', '0']]) {
    await page.$eval(id, (el, val) => { el.value = val; el.dispatchEvent(new Event('input', { bubbles: true })); }, v);
  }
  await page.waitForFunction((prev) => [...document.querySelectorAll('#ranking li')].map((e) => e.dataset.id).join(',') !== prev, firstPage, { timeout: 15000 });
  const after = await order();
  check(after !== firstPage, 'moving a weight slider changes the ranking');
  check(page.url().includes('gap%3A10') || page.url().includes('gap:10'), `weights are in the URL (${page.url()})`);

  // After zooming out and in, the units are still drawn above the LSOA polygons: a click where
  // the top unit is drawn opens its breakdown (not an LSOA tooltip).
  await page.click('.leaflet-control-zoom-out');
  await page.waitForTimeout(800);
  await page.click('.leaflet-control-zoom-in');
  await page.waitForTimeout(1500);
  const topName = await page.$eval('#ranking li:first-child', (e) => e.lastChild.textContent);
  const panes = await page.evaluate(() => {
    const z = (n) => Number(getComputedStyle(document.querySelector(`.leaflet-${n}-pane`)).zIndex);
    return { areas: z('areas'), units: z('units') };
  });
  check(panes.units > panes.areas, `the units' pane is above the areas' pane (${JSON.stringify(panes)})`);
  const rect = await page.$eval('.leaflet-units-pane path.unit-marker.rank-1', (e) => {
    const r = e.getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
  }).catch(() => null);
  check(rect !== null, 'the top unit is drawn on the map after zooming');
  if (rect) {
    await page.mouse.click(rect.x, rect.y);
    await page.waitForSelector('#breakdown:not([hidden]) .why', { timeout: 10000 });
    const t = await page.locator('#breakdown').innerText();
    check(t.includes(topName.trim()), `a click on the top unit after zooming opens its breakdown (${topName.trim()})`);
    const ring = await page.$eval('.leaflet-chosen-pane path.selected-ring', (e) => { const r = e.getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; }).catch(() => null);
    check(ring && Math.hypot(ring.x - rect.x, ring.y - rect.y) < 3, 'the chosen unit is ringed, above everything');
  }

  // A phone: the map keeps at least 300 x 300 px and its units are drawn.
  {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    await phone.goto(url, { waitUntil: 'load' });
    await phone.waitForSelector('path.unit-marker', { state: 'attached', timeout: 30000 });
    const m = await phone.$eval('#map', (e) => e.getBoundingClientRect());
    check(m.width >= 300 && m.height >= 300, `at 390x844 the map is ${Math.round(m.width)}x${Math.round(m.height)} px`);
    // The panel is a bottom sheet: its handle opens it over the map, with the ranking first.
    await phone.tap('#sheet-toggle');
    await phone.waitForFunction(() => document.querySelector('#panel').getBoundingClientRect().height > 400, null, { timeout: 5000 });
    const firstItem = await phone.$eval('#ranking li:first-child', (e) => e.getBoundingClientRect().top);
    check(firstItem < 844, `the opened sheet shows the ranking (first unit at ${Math.round(firstItem)} px)`);
    await phone.tap('#ranking li:first-child');
    await phone.waitForSelector('#breakdown:not([hidden]) .why', { timeout: 10000 });
    check(true, 'a tap on a unit of the list opens its breakdown');
    await phone.tap('#sheet-toggle');
    await phone.waitForFunction(() => document.querySelector('#panel').getBoundingClientRect().height < 100, null, { timeout: 5000 });
    check(true, 'the handle closes the sheet again');
    await phone.screenshot({ path: shot.replace(/\.png$/, '') + '-phone.png' });
    await phone.close();
  }

  // Open the top site's breakdown from the list.
  await page.click('#ranking li:first-child');
  await page.waitForSelector('#breakdown:not([hidden]) .why', { timeout: 10000 });
  const text = await page.locator('#breakdown').innerText();
  check(/IMD decile \d/.test(text), 'breakdown names the IMD decile');
  check(/patients in catchment/.test(text), 'breakdown names the GP catchment');
  check(/vaccination site/.test(text), 'breakdown names the nearest vaccination site');
  check(text.includes('deprivation') && text.includes('suitability'), 'breakdown lists every criterion');

  // A shared link restores weights and selection.
  const shared = page.url();
  const page2 = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  await page2.goto(shared, { waitUntil: 'load' });
  await page2.waitForSelector('#breakdown:not([hidden]) .why', { timeout: 30000 });
  check(await page2.$eval('#w-gap', (el) => el.value) === '10', 'a shared link restores the weights');
  check(await page2.$eval('#ranking li:first-child', (el) => el.dataset.id) === after.split(',')[0], 'a shared link restores the ranking');

  // Suggest 3 sites (MCLP on the server): their coverage circles are drawn and listed.
  await page.fill('#o-k', '3');
  await page.click('#o-run');
  await page.waitForSelector('path.coverage', { timeout: 30000 });
  check(await page.locator('path.coverage').count() === 3, 'suggest k sites draws 3 coverage circles');
  check(await page.locator('#o-result li').count() === 3, 'and lists the 3 chosen sites');
  check(/IMD decile 1/.test(await page.locator('#o-result').innerText()), 'with the most deprived decile\'s coverage first');
  check(/A set, not a top 3/.test(await page.locator('#o-result .set-vs-top').innerText()), 'and says how a set differs from the top 3');
  check(await page.locator('#o-fixed input:checked').count() === 0, 'no existing sites count as cover by default (as on the command line)');
  // A suggested site opens its breakdown; the set downloads as Excel.
  const firstSuggested = (await page.locator('#o-result li:first-child a.o-open').innerText()).trim();
  await page.click('#o-result li:first-child a.o-open');
  await page.waitForFunction((n) => document.querySelector('#breakdown h2')?.textContent.includes(n), firstSuggested, { timeout: 10000 });
  check(true, `a suggested site opens its breakdown (${firstSuggested})`);
  const [sdl] = await Promise.all([page.waitForEvent('download'), page.click('#o-result a[data-format=xlsx]')]);
  check(sdl.suggestedFilename() === 'sitefinder-suggested-sites.xlsx', `the suggested sites download as Excel (${sdl.suggestedFilename()})`);
  // With a filter the sites are chosen among the units listed.
  await page.check('#f-deciles input[value="1"]');
  await page.waitForFunction(() => /filtered out/.test(document.querySelector('#count').textContent) && !/ 0 filtered out/.test(document.querySelector('#count').textContent), null, { timeout: 15000 });
  await page.click('#o-run');
  await page.waitForFunction(() => /chosen among/.test(document.querySelector('#o-result').textContent), null, { timeout: 30000 });
  const listedIds = await page.$$eval('#ranking li', (els) => els.map((e) => e.dataset.id));
  const chosenIds = await page.$$eval('#o-result li', (els) => els.map((e) => e.dataset.id));
  check(chosenIds.length === 3 && chosenIds.every((id) => listedIds.includes(id)), 'with a filter, the suggested sites are among the units listed');
  await page.uncheck('#f-deciles input[value="1"]');
  await page.waitForFunction(() => / 0 filtered out/.test(document.querySelector('#count').textContent), null, { timeout: 15000 });

  const { E2E_TOKEN: token, E2E_PLAN: plan, E2E_XLSX: xlsx } = process.env;
  if (token && plan && xlsx) {
    // The first change asks for the token in plain words; cancelled, nothing is saved or drawn.
    await page.fill('#ov-name', 'Town centre plan');
    await page.setInputFiles('#ov-file', plan);
    await page.click('#ov-upload');
    await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
    check(/write token/.test(await page.locator('#token-why').innerText()), 'the first change asks for the write token, saying why');
    await page.click('#token-dialog button[value=cancel]');
    await page.waitForFunction(() => /Not saved/.test(document.querySelector('#ov-msg').textContent), null, { timeout: 10000 });
    check(await page.locator('#ov-msg.error').count() === 1, 'cancelled, the upload says it was not saved');
    check(await page.locator('path.plan-area').count() === 0, 'and nothing is drawn');
    // A wrong token: the server's refusal is shown in the dialog, in plain words.
    await page.click('#ov-upload');
    await page.waitForSelector('#token-dialog[open]', { timeout: 10000 });
    await page.fill('#token-input', 'not-the-token');
    await page.click('#token-dialog button[value=ok]');
    await page.waitForFunction(() => document.querySelector('#token-dialog').open && /not this server/.test(document.querySelector('#token-why').textContent), null, { timeout: 10000 });
    check(true, 'a wrong token is refused in words a person understands');
    await page.fill('#token-input', token);
    await page.click('#token-dialog button[value=ok]');
    await page.waitForSelector('path.plan-area', { timeout: 20000 });
    check(await page.locator('path.plan-area').count() === 2, 'the uploaded plan\'s 2 areas are drawn on the map');
    check(/added Town centre plan: 2 areas/.test(await page.locator('#ov-msg').innerText()), 'the upload is confirmed');
    check(await page.locator('#ov-list input[name=ov-use]:checked').evaluate((el) => el.value) !== '', 'the new plan is used in the ranking');

    // The list drawn is the ranking with the plan (not the one before it) before a unit of it
    // is opened.
    await page.waitForFunction(() => windowQuery && windowQuery.has('overlay'), null, { timeout: 15000 });
    await page.click('#ranking li:first-child');
    await page.waitForFunction(() => /plan overlay "Town centre plan"/.test(document.querySelector('#breakdown').innerText), null, { timeout: 15000 });
    const bd = await page.locator('#breakdown').innerText();
    check(/SYNTHETIC plan area\)" \(feature \d\)/.test(bd), 'the breakdown names the plan overlay and the feature that matched');
    check(page.url().includes('overlay='), 'the chosen plan is in the URL');
    // Choosing a plan zooms to its areas.
    await page.check('#ov-list input[name=ov-use][value=""]');
    await page.evaluate(() => map.setView([53.45, -2.4], 9, { animate: false }));
    await page.check('#ov-list input[name=ov-use]:not([value=""])');
    await page.waitForTimeout(1000);
    const planView = await page.evaluate(() => {
      let inside = true;
      for (const l of planLayers.values()) inside = inside && map.getBounds().contains(l.getBounds());
      return { z: map.getZoom(), inside };
    });
    check(planView.z >= 13 && planView.inside, `choosing a plan zooms to its areas (zoom ${planView.z})`);

    // Build a shortlist of two units and download it as Excel.
    await page.fill('#sl-name', 'E2E shortlist');
    await page.press('#sl-name', 'Tab');
    await page.click('#sl-add');
    await page.waitForSelector('#sl-sites li', { timeout: 15000 });
    await page.click('#ranking li:nth-child(2)');
    await page.click('#sl-add');
    await page.waitForFunction(() => document.querySelectorAll('#sl-sites li').length === 2, null, { timeout: 15000 });
    check(true, 'two units added to the shortlist');
    await page.fill('#sl-sites li:first-child .sl-note', 'Corner unit, ask the agent');
    await page.press('#sl-sites li:first-child .sl-note', 'Tab');
    await page.waitForFunction(() => /note saved/.test(document.querySelector('#sl-msg').textContent), null, { timeout: 15000 });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sl-dl-xlsx')]);
    await download.saveAs(xlsx);
    check(download.suggestedFilename() === 'E2E-shortlist.xlsx', `the workbook downloads (${download.suggestedFilename()})`);
    if (process.env.E2E_PDF) {
      const [report] = await Promise.all([page.waitForEvent('download'), page.click('#sl-dl-pdf')]);
      await report.saveAs(process.env.E2E_PDF);
      check(report.suggestedFilename() === 'E2E-shortlist.pdf', `the PDF site report downloads (${report.suggestedFilename()})`);
    }

    // "Add top 5 places" makes a new shortlist of five places, recording the query it was made
    // from with one_per_site (the test reads the stored query back from the state database).
    await page.fill('#sl-name', 'E2E top five');
    await page.press('#sl-name', 'Tab');
    await page.waitForFunction(() => /new shortlist/.test(document.querySelector('#sl-msg').textContent), null, { timeout: 15000 });
    await page.click('#sl-top');
    await page.waitForFunction(() => document.querySelectorAll('#sl-sites li').length === 5, null, { timeout: 15000 });
    check(true, 'the top 5 places make a shortlist of five');
    const made = await page.evaluate(async () => (await (await fetch('shortlists/E2E%20top%20five')).json()).query);
    const madeFrom = new URLSearchParams(made);
    check(madeFrom.get('one_per_site') === 'true' && madeFrom.get('top') === '5', `the shortlist records one_per_site and top (${made})`);

    // The suggested sites go to a shortlist in one click.
    await page.fill('#sl-name', 'E2E suggested');
    await page.press('#sl-name', 'Tab');
    await page.waitForFunction(() => /new shortlist/.test(document.querySelector('#sl-msg').textContent), null, { timeout: 15000 });
    await page.click('#o-run');
    await page.waitForSelector('#o-shortlist', { timeout: 30000 });
    const suggestedIds = await page.$$eval('#o-result li', (els) => els.map((e) => e.dataset.id));
    await page.click('#o-shortlist');
    await page.waitForFunction((n) => document.querySelectorAll('#sl-sites li').length === n, suggestedIds.length, { timeout: 15000 });
    const slIds = await page.$$eval('#sl-sites li', (els) => els.map((e) => e.dataset.id));
    check(suggestedIds.length === 3 && suggestedIds.every((id) => slIds.includes(id)), `the suggested sites are added to a shortlist (${slIds.join(', ')})`);
  }

  await page.screenshot({ path: shot });

  // All England from the vector tiles: at zoom 7 the LSOA choropleth is drawn from /tiles
  // (canvas tiles), not fetched as GeoJSON polygons; back at zoom 12 the polygons return.
  await page.evaluate(() => map.setView([52.9, -1.5], 7, { animate: false }));
  // Every tile in view drawn (or failed, which is checked below).
  await page.waitForFunction(() => {
    const cs = [...document.querySelectorAll('canvas.lsoa-tile')];
    return cs.length >= 6 && cs.every((c) => c.dataset.features !== undefined || c.dataset.error !== undefined);
  }, null, { timeout: 120000 });
  const failedTiles = await page.$$eval('canvas.lsoa-tile[data-error]', (cs) => cs.map((c) => c.dataset.error));
  check(failedTiles.length === 0, `every tile in view loads (${failedTiles.join('; ')})`);
  const tiles = await page.$$eval('canvas.lsoa-tile', (cs) => {
    let features = 0;
    let coloured = 0;
    for (const c of cs) {
      features += Number(c.dataset.features || 0);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4 * 97) if (d[i] > 0) coloured++;
    }
    return { n: cs.length, features, coloured };
  });
  check(tiles.features > 20000, `zoom 7: England's LSOA choropleth from vector tiles (${tiles.n} tiles, ${tiles.features} LSOA shapes)`);
  check(tiles.coloured > 1000, `the tiles are painted (${tiles.coloured} sampled pixels coloured)`);
  check(await page.locator('path.lsoa').count() === 0, 'no GeoJSON LSOA polygons at zoom 7');
  await page.screenshot({ path: shot.replace(/\.png$/, '-england.png') });
  await page.evaluate(() => map.setView([53.6155, -2.158], 12, { animate: false }));
  await page.waitForSelector('path.lsoa', { timeout: 30000 });
  await page.waitForTimeout(500);
  check(await page.locator('canvas.lsoa-tile').count() === 0, 'zoom 12: LSOA polygons again, no tiles');
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
});
