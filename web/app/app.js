// sitefinder web map. All ranking happens on the server (/rank); this page only asks and draws.
// State (view, weights, filters, selected unit) lives in the URL so a view can be shared by link.
'use strict';

const CRITERIA = ['deprivation', 'reach', 'demand', 'gap', 'access', 'suitability', 'plan'];
// `plan` counts only when a council plan overlay is chosen.
// Each criterion in a sentence, shown where it is set and where it is shown; help.html#<name>
// gives its scale.
const CRITERIA_WORDS = {
  deprivation: 'How deprived the unit\'s neighbourhood and the people within walking reach are (Index of Multiple Deprivation).',
  reach: 'How many people live within walking reach (800 m); 10,000 residents scores 0.63.',
  demand: 'How many registered patients the GP practices serving this place have; 40,000 scores 0.63.',
  gap: 'How far the nearest existing vaccination site or pharmacy is; 2 km scores 0.63, next door 0.',
  access: 'Bus, tram and rail stops within 400 m; 10 stops scores 0.63.',
  suitability: 'Can the unit hold a clinic: floor area, ground floor, and how long it has been empty.',
  plan: 'Inside or near the council plan area chosen below (0 from 400 m away); counts only with a plan.',
};
const DEFAULT_WEIGHTS = { deprivation: 3, reach: 2, demand: 2, gap: 2, access: 1, suitability: 1, plan: 2 };
// IMD decile 1 (most deprived) to 10: a diverging ramp.
const DECILE_COLOURS = ['#67001f', '#b2182b', '#d6604d', '#f4a582', '#fddbc7', '#d1e5f0', '#92c5de', '#4393c3', '#2166ac', '#053061'];

const params = new URLSearchParams(location.search);
const state = {
  weights: { ...DEFAULT_WEIGHTS },
  pcn: params.get('pcn') || '',
  lad: params.get('lad') || '',
  area: params.get('min_floor_area_m2') || '',
  deciles: (params.get('imd_deciles') || '').split(',').filter(Boolean).map(Number),
  inView: params.get('in_view') === '1',
  selected: params.get('selected') || null,
  overlay: params.get('overlay') || '',
  planWithin: params.get('plan_within_m') || '',
};
for (const pair of (params.get('weights') || '').split(',')) {
  const [k, v] = pair.split(':');
  if (CRITERIA.includes(k) && !isNaN(parseFloat(v))) state.weights[k] = parseFloat(v);
}

// --- map -------------------------------------------------------------------------------------
const map = L.map('map', { preferCanvas: false }).setView(
  [parseFloat(params.get('lat')) || 53.6155, parseFloat(params.get('lon')) || -2.158],
  parseInt(params.get('z'), 10) || 13,
);
// An online base map is optional, chosen when the server starts (places.js draws it).
map.attributionControl.setPrefix(false);
map.attributionControl.addAttribution('Contains public sector information licensed under the Open Government Licence v3.0; OS data © Crown copyright and database right 2025; Royal Mail data © Royal Mail copyright and database right 2025; NHS England data; English Indices of Deprivation (MHCLG)');

// Fixed panes, so that a redraw never puts polygons over points: areas (LSOAs, catchments,
// plans) at the bottom, existing sites above them, candidate units above those, the suggested
// sites on top. Leaflet gives each pane its own renderer.
for (const [pane, z] of [['areas', 350], ['sites', 450], ['units', 620], ['chosen', 640]]) {
  map.createPane(pane).style.zIndex = z;
}

const layers = {
  lsoa: L.layerGroup().addTo(map),
  catchments: L.layerGroup(),
  practices: L.layerGroup().addTo(map),
  stops: L.layerGroup(),
  'vaccination-sites': L.layerGroup().addTo(map),
  pharmacies: L.layerGroup().addTo(map),
  plans: L.layerGroup().addTo(map),
  units: L.layerGroup().addTo(map),
};
L.control.layers(null, {
  'Deprivation decile (LSOA)': layers.lsoa,
  'GP catchments': layers.catchments,
  'GP practices (by list size)': layers.practices,
  'Public transport stops': layers.stops,
  'Vaccination sites (Feb 2021)': layers['vaccination-sites'],
  'Pharmacies': layers.pharmacies,
  'Council plan overlays': layers.plans,
  'Candidate units (by score)': layers.units,
}, { collapsed: window.matchMedia('(max-width: 700px)').matches }).addTo(map);

const legend = L.control({ position: 'bottomright' });
const narrow = window.matchMedia('(max-width: 700px)');
legend.onAdd = () => {
  // On a phone the legend starts folded to one button, so it does not cover the map.
  const div = L.DomUtil.create('div', narrow.matches ? 'legend collapsed' : 'legend');
  L.DomEvent.disableClickPropagation(div);
  div.innerHTML = '<button type="button" class="legend-toggle" aria-expanded="false">Legend</button><div class="legend-body"><b id="imd-title">IMD decile</b><br>' + DECILE_COLOURS.map((c, i) => `<i style="background:${c}"></i>${i + 1}${i === 0 ? ' most deprived' : i === 9 ? ' least' : ''}<br>`).join('')
    + '<b>Candidate unit score</b><br><span id="score-legend"></span>'
    + '<i style="background:#fff;border:2px solid #111;border-radius:7px;box-sizing:border-box"></i>ringed with a number: units at one spot<br>'
    + '<i style="background:#fff;border:3px solid #00796b;border-radius:7px;box-sizing:border-box"></i>suggested site<br>'
    + '<i style="background:#2e7d32;border-radius:7px"></i>vaccination site<br><i style="background:#6a1b9a;border-radius:7px"></i>pharmacy<br><i style="background:#005eb8;border-radius:7px"></i>GP practice</div>';
  div.querySelector('.legend-toggle').addEventListener('click', (e) => {
    const folded = div.classList.toggle('collapsed');
    e.target.setAttribute('aria-expanded', String(!folded));
  });
  return div;
};
legend.addTo(map);
// The edition in use (IMD 2025 on LSOA 2021 unless the server runs with --imd 2019).
getJSON('collections/lsoa').then((c) => {
  document.getElementById('imd-title').textContent = c.title.replace(/^LSOAs with /, '') + ' decile';
}).catch(() => {});

// The unit colour ramp is fitted to the scores shown (lowest -> pale yellow, highest -> deep
// indigo), so real scores, which span a few tenths, look different; the legend says the range.
let scoreRange = [0, 1];
function scoreColour(s) {
  const [lo, hi] = scoreRange;
  const t = hi > lo ? Math.max(0, Math.min(1, (s - lo) / (hi - lo))) : 1;
  const r = Math.round(255 - t * 229), g = Math.round(241 - t * 206), b = Math.round(118 + t * 8);
  return `rgb(${r},${g},${b})`;
}
function scoreLegend() {
  const [lo, hi] = scoreRange;
  const steps = [hi, lo + (hi - lo) * 2 / 3, lo + (hi - lo) / 3, lo];
  const el = document.getElementById('score-legend');
  if (el) el.innerHTML = steps.map((s) => `<i style="background:${scoreColour(s)};border:1px solid #111;border-radius:7px"></i>${s.toFixed(3)}<br>`).join('');
}

function bboxParam() {
  const b = map.getBounds();
  return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(5)).join(',');
}

async function getJSON(url, signal) {
  const r = await fetch(url, { signal });
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

// Layers other than units are fetched for the current view.
const pointStyles = {
  stops: { radius: 2, color: '#555', weight: 1, fillOpacity: 0.6, pane: 'sites' },
  'vaccination-sites': { radius: 6, color: '#2e7d32', fillColor: '#2e7d32', weight: 1, fillOpacity: 0.8, pane: 'sites' },
  pharmacies: { radius: 4, color: '#6a1b9a', fillColor: '#6a1b9a', weight: 1, fillOpacity: 0.8, pane: 'sites' },
};
let viewRequest = 0;
async function loadView() {
  const id = ++viewRequest;
  const bbox = bboxParam();
  const tooWide = map.getZoom() < 11;
  const jobs = Object.keys(layers).filter((k) => k !== 'units' && k !== 'plans').map(async (name) => {
    const group = layers[name];
    // Zoomed out, only vaccination sites come as points (from zoom 8: below it the 1,500 of
    // them hide the choropleth, which tiles.js draws from vector tiles).
    const hidden = tooWide && (name !== 'vaccination-sites' || map.getZoom() < 8);
    if (!map.hasLayer(group) || hidden) { group.clearLayers(); return; }
    const fc = await getJSON(`collections/${name}/items?bbox=${bbox}&limit=5000`);
    if (id !== viewRequest) return;
    group.clearLayers();
    for (const f of fc.features) {
      const p = f.properties;
      if (name === 'lsoa') {
        L.geoJSON(f, { pane: 'areas', style: { className: 'lsoa', color: '#fff', weight: 0.6, fillColor: DECILE_COLOURS[p.imd_decile - 1], fillOpacity: 0.45 } })
          .bindTooltip(`${p.lsoa21nm ?? p.lsoa11nm} (${p.lsoa21cd ?? p.lsoa11cd}): IMD decile ${p.imd_decile}`).addTo(group);
      } else if (name === 'catchments') {
        L.geoJSON(f, { pane: 'areas', style: { className: 'catchment', color: '#005eb8', weight: 1, fill: false, dashArray: '3' } })
          .bindTooltip(`${p.practice_code} ${p.name}: ${p.lsoas} LSOAs`).addTo(group);
      } else if (name === 'practices') {
        const [lon, lat] = f.geometry.coordinates;
        const r = 3 + Math.sqrt((p.list_size || 5000) / 1000) * 2;
        L.circleMarker([lat, lon], { pane: 'sites', className: 'practice', radius: r, color: '#005eb8', weight: 1, fillOpacity: 0.25 })
          .bindTooltip(`${p.practice_code} ${p.name}<br>${p.pcn_name || 'no PCN'}; ${p.list_size ?? '?'} registered patients`).addTo(group);
      } else {
        const [lon, lat] = f.geometry.coordinates;
        L.circleMarker([lat, lon], { ...pointStyles[name], className: name }).bindTooltip(`${p.name} (${p.kind})`).addTo(group);
      }
    }
  });
  await Promise.allSettled(jobs);
  if (state.inView) {
    // Units in a new box: from the first window, the list at the chosen unit's page.
    windowStart = 0;
    keepSelectedPage = true;
    refreshRanking();
  }
}
map.on('moveend', () => { syncURL(); loadView(); });
map.on('overlayadd', loadView);

// --- ranking panel ---------------------------------------------------------------------------
const weightsDiv = document.getElementById('weights');
for (const c of CRITERIA) {
  const row = document.createElement('label');
  row.className = 'weight';
  row.innerHTML = `<span>${c} <a class="help" href="help.html#${c}" target="_blank" rel="noopener" title="how ${c} is scored">?</a></span><input type="range" id="w-${c}" min="0" max="10" step="0.5" value="${state.weights[c]}" aria-describedby="x-${c}"><output id="o-${c}">${state.weights[c]}</output><small class="explain" id="x-${c}">${CRITERIA_WORDS[c]}</small>`;
  weightsDiv.appendChild(row);
  row.querySelector('input').addEventListener('input', (e) => {
    state.weights[c] = parseFloat(e.target.value);
    document.getElementById(`o-${c}`).textContent = e.target.value;
    scheduleRanking();
  });
}
const decilesField = document.getElementById('f-deciles');
for (let d = 1; d <= 10; d++) {
  const l = document.createElement('label');
  l.innerHTML = `<input type="checkbox" value="${d}" ${state.deciles.includes(d) ? 'checked' : ''}>${d}`;
  decilesField.appendChild(l);
}
const inputs = { pcn: 'f-pcn', lad: 'f-lad', area: 'f-area' };
for (const [k, id] of Object.entries(inputs)) {
  const el = document.getElementById(id);
  el.value = state[k];
  el.addEventListener('change', () => { state[k] = el.value.trim(); scheduleRanking(); });
}
decilesField.addEventListener('change', () => {
  state.deciles = [...decilesField.querySelectorAll('input:checked')].map((x) => Number(x.value));
  scheduleRanking();
});
const inView = document.getElementById('f-view');
inView.checked = state.inView;
inView.addEventListener('change', () => { state.inView = inView.checked; scheduleRanking(); });

// The map draws up to MAX_UNITS units at a time (the server's page limit); a longer ranking is
// drawn a window at a time, and the list pages through the window, PAGE rows at a time.
const MAX_UNITS = 10000;
const PAGE = 100;
// What the window's units carry (the markers, the list and their tooltips): no breakdown, so a
// window of 10,000 units over all England is a small answer, made without words.
const WINDOW_PROPERTIES = 'rank,score,name,postcode';
let windowStart = 0;
let listPage = 0;
// Without a view in the link, the first ranking fits the map to the units served.
let fitToUnits = !(params.get('lat') && params.get('lon'));

function weightsParam() {
  return CRITERIA.map((c) => `${c}:${state.weights[c]}`).join(',');
}

// The filters alone, as /rank and /optimise take them.
function filterQuery() {
  const q = new URLSearchParams();
  if (state.pcn) q.set('pcn', state.pcn);
  if (state.lad) q.set('lad', state.lad);
  if (state.area) q.set('min_floor_area_m2', state.area);
  if (state.deciles.length) q.set('imd_deciles', state.deciles.join(','));
  if (state.inView) q.set('bbox', bboxParam());
  if (state.overlay) q.set('overlay', state.overlay);
  if (state.overlay && state.planWithin !== '') q.set('plan_within_m', state.planWithin);
  return q;
}

function rankQuery() {
  const q = new URLSearchParams({ weights: weightsParam(), limit: String(MAX_UNITS) });
  if (windowStart) q.set('offset', String(windowStart));
  for (const [k, v] of filterQuery()) q.set(k, v);
  return q;
}

function syncURL() {
  const q = rankQuery();
  q.delete('limit');
  q.delete('offset');
  q.delete('bbox');
  if (state.inView) q.set('in_view', '1');
  const c = map.getCenter();
  q.set('lat', c.lat.toFixed(5));
  q.set('lon', c.lng.toFixed(5));
  q.set('z', map.getZoom());
  if (state.selected) q.set('selected', state.selected);
  const shortlistName = document.getElementById('sl-name').value.trim();
  if (shortlistName) q.set('shortlist', shortlistName);
  history.replaceState(null, '', `?${q}`);
}

let timer = null;
function scheduleRanking() {
  clearTimeout(timer);
  windowStart = 0;
  timer = setTimeout(refreshRanking, 150);
}

let ranked = [];
// The query the units drawn now were ranked with (their ranks are in that ranking).
let windowQuery = null;
let matched = 0;
let firstRanking = true;
let keepSelectedPage = false;
const markers = new Map(); // unit id -> the marker drawn for it (shared by units at one spot)
let rankRequest = 0;
const fmt = (n) => Number(n).toLocaleString('en-GB');
async function refreshRanking() {
  const id = ++rankRequest;
  syncURL();
  const err = document.getElementById('error');
  let fc;
  try {
    // The window holds what the map and the list draw; a unit's breakdown in words is asked
    // for when it is opened (openBreakdown).
    const q = rankQuery();
    q.set('properties', WINDOW_PROPERTIES);
    fc = await getJSON(`rank?${q}`);
    if (id === rankRequest) {
      q.delete('properties');
      windowQuery = q;
    }
  } catch (e) {
    if (id !== rankRequest) return false;
    err.textContent = e.message;
    err.hidden = false;
    return false;
  }
  if (id !== rankRequest) return false;
  err.hidden = true;
  showCoverage(fc);
  ranked = fc.features;
  matched = fc.numberMatched;
  const shown = ranked.length;
  const left = fc.left_out_unsuitable ? `; ${fmt(fc.left_out_unsuitable)} that cannot hold a clinic left out` : '';
  document.getElementById('count').textContent = shown < matched
    ? `(${fmt(matched)} units; the map shows ${fmt(windowStart + 1)}–${fmt(windowStart + shown)}; ${fmt(fc.filtered_out)} filtered out${left})`
    : `(${fmt(matched)} units; ${fmt(fc.filtered_out)} filtered out${left})`;
  const scores = ranked.map((f) => f.properties.score);
  scoreRange = scores.length ? [Math.min(...scores), Math.max(...scores)] : [0, 1];
  scoreLegend();
  drawUnits();
  // A new ranking lists from its top; a link naming a unit opens at that unit's page.
  const at = state.selected ? ranked.findIndex((f) => f.id === state.selected) : -1;
  listPage = at >= 0 && (firstRanking || keepSelectedPage) ? Math.floor(at / PAGE) : 0;
  firstRanking = false;
  keepSelectedPage = false;
  renderList();
  if (fitToUnits && markers.size) {
    fitToUnits = false;
    map.fitBounds(L.latLngBounds([...markers.values()].map((m) => m.getLatLng())), { padding: [30, 30], maxZoom: 15 });
  }
  if (at >= 0) select(state.selected, false, true);
  else {
    // The chosen unit is not in this ranking (a filter leaves it out): nothing stays chosen.
    state.selected = null;
    selectedRing.remove();
    document.getElementById('sl-add').disabled = true;
    openBreakdown(null);
    syncURL();
  }
  markSuggestionStale();
  updateRankDownloads();
  return true;
}

// Which data the ranking used and where each layer has none, in words.
const LAYER_WORDS = { practices: 'GP practices', stops: 'public transport stops', pharmacies: 'pharmacies', 'vaccination-sites': 'vaccination sites (February 2021)' };
function showCoverage(fc) {
  document.getElementById('data-coverage').innerHTML = Object.entries(fc.coverage || {})
    .map(([k, v]) => `<li>${escapeHTML(LAYER_WORDS[k] || k)}: ${escapeHTML(v)}${v === 'all England' ? '' : ' only'}</li>`).join('')
    + `<li>GP catchments: ${escapeHTML(fc.catchments)}</li>`;
}
getJSON('health').then((h) => {
  document.getElementById('data-edition').textContent = `Deprivation: ${h.deprivation}.`;
}).catch(() => {});

// Units at one spot (one address or postcode: an arcade, a market hall) share one marker with
// their number on it; a click lists them all, so every unit can be reached.
function drawUnits() {
  layers.units.clearLayers();
  markers.clear();
  const spots = new Map();
  for (const f of ranked) {
    const [lon, lat] = f.geometry.coordinates;
    const key = `${lat.toFixed(5)},${lon.toFixed(5)}`;
    if (!spots.has(key)) spots.set(key, []);
    spots.get(key).push(f);
  }
  // The best last, so that where markers overlap the best is on top and takes the click.
  const drawn = [...spots.values()].sort((a, b) => b[0].properties.rank - a[0].properties.rank);
  for (const group of drawn) {
    const best = group[0];
    const p = best.properties;
    const [lon, lat] = best.geometry.coordinates;
    const many = group.length > 1;
    const m = L.circleMarker([lat, lon], {
      pane: 'units', className: `unit-marker rank-${p.rank}${many ? ' unit-group' : ''}`, radius: many ? 9 : 7,
      color: '#111', weight: many ? 2.5 : 1.5, fillColor: scoreColour(p.score), fillOpacity: 0.95,
    });
    if (many) {
      m.bindTooltip(`${group.length} units here; the best is #${p.rank} ${escapeHTML(p.name)} (${p.score.toFixed(3)}). Click to list them.`);
      m.on('click', () => listSpot(m, group));
      L.marker([lat, lon], {
        pane: 'units', interactive: false, keyboard: false,
        icon: L.divIcon({ className: 'unit-count', html: String(group.length), iconSize: [18, 18] }),
      }).addTo(layers.units);
    } else {
      m.bindTooltip(`#${p.rank} ${escapeHTML(p.name)} — score ${p.score.toFixed(3)}`);
      m.on('click', () => select(best.id, false));
    }
    m.addTo(layers.units);
    for (const f of group) markers.set(f.id, m);
  }
  // Count labels above the circles.
  layers.units.eachLayer((l) => { if (l instanceof L.Marker) l.setZIndexOffset(1000); });
}

const selectedRing = L.circleMarker([0, 0], { pane: 'chosen', className: 'selected-ring', interactive: false, radius: 14, color: '#ff6f00', weight: 3.5, fill: false });

function listSpot(marker, group) {
  const items = group.map((f) => `<li data-id="${escapeHTML(f.id)}"><span class="score">${f.properties.score.toFixed(3)}</span>#${f.properties.rank} ${escapeHTML(f.properties.name)}</li>`).join('');
  const div = L.DomUtil.create('div', 'spot-list');
  div.innerHTML = `<b>${group.length} units at ${escapeHTML(group[0].properties.postcode || 'this spot')}</b><ul>${items}</ul>`;
  div.addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (li) { select(li.dataset.id, false); map.closePopup(); }
  });
  L.popup({ maxHeight: 260, minWidth: 240 }).setLatLng(marker.getLatLng()).setContent(div).openOn(map);
}

function renderList() {
  const list = document.getElementById('ranking');
  list.innerHTML = '';
  const pages = Math.max(1, Math.ceil(ranked.length / PAGE));
  listPage = Math.min(listPage, pages - 1);
  const from = listPage * PAGE;
  const rows = ranked.slice(from, from + PAGE);
  list.start = windowStart + from + 1;
  for (const f of rows) {
    const p = f.properties;
    const li = document.createElement('li');
    li.dataset.id = f.id;
    li.classList.toggle('selected', f.id === state.selected);
    li.innerHTML = `<span class="score">${p.score.toFixed(3)}</span>${escapeHTML(p.name || f.id)}`;
    li.addEventListener('click', () => select(f.id, true));
    list.appendChild(li);
  }
  const pager = document.getElementById('pager');
  const first = windowStart + from + 1;
  const last = windowStart + from + rows.length;
  const hasPrev = listPage > 0 || windowStart > 0;
  const hasNext = listPage < pages - 1 || windowStart + ranked.length < matched;
  pager.hidden = !(hasPrev || hasNext);
  document.getElementById('pager-text').textContent = `${fmt(first)}–${fmt(last)} of ${fmt(matched)}`;
  document.getElementById('pager-prev').disabled = !hasPrev;
  document.getElementById('pager-next').disabled = !hasNext;
}
document.getElementById('pager-prev').addEventListener('click', () => {
  if (listPage > 0) { listPage--; renderList(); return; }
  if (windowStart > 0) {
    const previous = { start: windowStart, page: listPage };
    windowStart = Math.max(0, windowStart - MAX_UNITS);
    listPage = Math.ceil(MAX_UNITS / PAGE) - 1;
    refreshWindow(previous);
  }
});
document.getElementById('pager-next').addEventListener('click', () => {
  if ((listPage + 1) * PAGE < ranked.length) { listPage++; renderList(); return; }
  if (windowStart + ranked.length < matched) {
    const previous = { start: windowStart, page: listPage };
    windowStart += MAX_UNITS;
    listPage = 0;
    refreshWindow(previous);
  }
});
// Another window of a ranking longer than the map draws at once; if it cannot be shown (an
// error, or a newer ranking asked for meanwhile), the window and page stay as they were.
async function refreshWindow(previous) {
  const keep = listPage;
  if (await refreshRanking()) {
    listPage = keep;
    renderList();
  } else if (windowStart !== previous.start) {
    windowStart = previous.start;
    listPage = previous.page;
  }
}

function escapeHTML(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// Opens a unit's breakdown; chosen on the map, the list turns to its page. `quiet` is a
// re-ranking keeping its selection: the list stays where it is and the sheet stays closed.
function select(id, pan, quiet = false) {
  state.selected = id;
  document.getElementById('sl-add').disabled = false;
  const at = ranked.findIndex((x) => x.id === id);
  const f = ranked[at];
  if (!quiet && at >= 0 && Math.floor(at / PAGE) !== listPage) { listPage = Math.floor(at / PAGE); renderList(); }
  for (const li of document.querySelectorAll('#ranking li')) li.classList.toggle('selected', li.dataset.id === id);
  const m = markers.get(id);
  if (m && pan) map.panTo(m.getLatLng());
  if (m && !quiet) m.openTooltip();
  // The chosen unit is ringed above everything else.
  if (m) selectedRing.setLatLng(m.getLatLng()).addTo(map);
  else selectedRing.remove();
  openBreakdown(f).then((shown) => {
    if (shown && narrow.matches && !pan && !quiet) {
      openSheet(true);
      document.getElementById('breakdown').scrollIntoView({ block: 'start' });
    }
  });
  syncURL();
}

// A unit of the window in full (its breakdown in words): the ranking the window came from, at
// the unit's rank, kept on the feature once fetched. Only the latest unit opened is shown (an
// earlier request still under way is cancelled), and the breakdown shown stays until the new
// one comes when it is the same unit's (a slider moved). If the server's answer changed
// meanwhile (an overlay edited: the unit no longer at that rank), the same window is ranked
// again, once.
let breakdownRequest = 0;
let breakdownAbort = null;
let rerankedForBreakdown = false;
async function openBreakdown(f) {
  const id = ++breakdownRequest;
  if (breakdownAbort) breakdownAbort.abort();
  breakdownAbort = null;
  if (!f || f.properties.breakdown) { showBreakdown(f); return Boolean(f); }
  const el = document.getElementById('breakdown');
  if (el.hidden || el.dataset.unit !== f.id) {
    el.dataset.unit = f.id;
    el.innerHTML = `<h2>#${f.properties.rank} ${escapeHTML(f.properties.name)}</h2><p class="small">Loading its breakdown…</p>`;
    el.hidden = false;
  }
  const q = new URLSearchParams(windowQuery || rankQuery());
  q.set('offset', String(f.properties.rank - 1));
  q.set('limit', '1');
  const abort = new AbortController();
  breakdownAbort = abort;
  let fc;
  try { fc = await getJSON(`rank?${q}`, abort.signal); } catch (e) {
    if (id !== breakdownRequest) return false;
    el.innerHTML = `<p class="error">${escapeHTML(e.message)}</p>`;
    return true;
  }
  if (id !== breakdownRequest) return false;
  const g = fc.features[0];
  if (!g || g.id !== f.id) {
    if (rerankedForBreakdown) {
      el.innerHTML = '<p class="error">The ranking on the server has changed: reload the page.</p>';
      return true;
    }
    rerankedForBreakdown = true;
    keepSelectedPage = true;
    refreshRanking();
    return false;
  }
  rerankedForBreakdown = false;
  f.properties = g.properties;
  showBreakdown(f);
  return true;
}

function summary(p) {
  // The reasons in words, e.g. "Rochdale 010E (E01005484), IMD 2025 decile 1; 4 GP practices,
  // 38,000 patients in catchment; nearest vaccination site 2.3 km".
  const name = p.lsoa21nm ?? p.lsoa11nm;
  const code = p.lsoa21cd ?? p.lsoa11cd;
  const parts = [`Neighbourhood ${name} (${code}) in IMD decile ${p.imd_decile}`];
  const n = p.catchment_practices ? p.catchment_practices.split(' ').length : 0;
  if (n) parts.push(`${n} GP practice${n === 1 ? '' : 's'}, ${fmt(p.catchment_patients)} patients in catchment`);
  if (p.nearest_practice_name) parts.push(`nearest practice ${p.nearest_practice_name} (${p.nearest_practice_code}), ${fmt(Math.round(p.nearest_practice_m))} m`);
  const gap = p.breakdown.gap.why.match(/nearest vaccination site [0-9.,]+ k?m/);
  if (gap) parts.push(gap[0]);
  return parts.join('; ');
}

function showBreakdown(f) {
  const el = document.getElementById('breakdown');
  if (!f) { el.hidden = true; el.innerHTML = ''; delete el.dataset.unit; return; }
  el.dataset.unit = f.id;
  const p = f.properties;
  const rows = CRITERIA.map((c) => {
    const b = p.breakdown[c];
    const val = b.no_data ? '<span class="nodata">no data</span>' : b.norm.toFixed(2);
    return `<tr><td><a href="help.html#${c}" target="_blank" rel="noopener" title="${escapeHTML(CRITERIA_WORDS[c])}"><b>${c}</b></a><br><span class="small">weight ${b.weight}</span></td><td>${val}</td><td>${b.contribution.toFixed(3)}</td><td class="why">${escapeHTML(b.why)}</td></tr>`;
  }).join('');
  const area = p.floor_area_m2 ? `; ${fmt(p.floor_area_m2)} m²` : '';
  const place = p.rank !== undefined ? `#${p.rank}` : `suggested site ${p.order}`;
  el.innerHTML = `<h2>${place} ${escapeHTML(p.name)}</h2>
    <p>${escapeHTML(p.address || '')}<br><span class="small">${escapeHTML(p.description || '')}${area}; ${escapeHTML(p.lad24nm ?? p.lad19nm ?? '')}</span></p>
    <p class="summary"><b>Score ${p.score.toFixed(3)}</b> (the weighted average of the criteria with data). ${escapeHTML(summary(p))}.</p>
    <table><tr><th>criterion</th><th title="0 (worst) to 1 (best)">value<br>0–1</th><th title="weight × value ÷ the sum of the weights used">adds to score</th><th>why</th></tr>${rows}</table>
    <p class="small"><a href="help.html" target="_blank" rel="noopener">How units are scored</a></p>`;
  el.hidden = false;
}

// --- suggested sites (location-allocation on the server) ------------------------------------
// The same defaults as `sitefinder optimise` (k 5, 800 m, MCLP, no existing sites counted as
// cover), chosen among the units the list shows (the same filters, sent as the query string).
const suggested = L.layerGroup().addTo(map);
let suggestion = null;
let suggestRequest = 0;
document.getElementById('o-run').addEventListener('click', async () => {
  const id = ++suggestRequest;
  const out = document.getElementById('o-result');
  out.textContent = 'solving…';
  const body = JSON.stringify({
    k: Number(document.getElementById('o-k').value),
    radius_m: Number(document.getElementById('o-radius').value),
    model: document.getElementById('o-model').value,
    fixed: [...document.querySelectorAll('#o-fixed input:checked')].map((x) => x.value),
    pcn: state.pcn || null,
    lad: state.lad || null,
  });
  const query = filterQuery();
  let fc;
  try {
    const r = await fetch(`optimise?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    fc = await r.json();
    if (!r.ok) throw new Error(fc.message || r.statusText);
  } catch (e) {
    if (id === suggestRequest) out.textContent = e.message;
    return;
  }
  // Only the latest request's answer is shown.
  if (id !== suggestRequest) return;
  suggestion = { fc, body, query };
  showSuggestion();
});

// Suggestions made with other filters than the list's now are marked as such.
function markSuggestionStale() {
  const note = document.getElementById('o-stale');
  if (!suggestion || !note) return;
  note.hidden = suggestion.query.toString() === filterQuery().toString();
}

function showSuggestion() {
  const { fc } = suggestion;
  const out = document.getElementById('o-result');
  suggested.clearLayers();
  for (const f of fc.features) {
    const [lon, lat] = f.geometry.coordinates;
    // The coverage circle is drawn only: clicks go through it to the units under it.
    L.circle([lat, lon], { pane: 'chosen', className: 'coverage', interactive: false, radius: f.properties.radius_m, color: '#00796b', weight: 2, fillOpacity: 0.08 }).addTo(suggested);
    // Only the ring takes a click, so the unit (or the list of units at its spot) under it can
    // still be opened.
    L.circleMarker([lat, lon], { pane: 'chosen', className: `suggested order-${f.properties.order}`, radius: 11, color: '#00796b', weight: 3, fill: false })
      .bindTooltip(`suggested site ${f.properties.order}: ${escapeHTML(f.properties.name)}`)
      .on('click', () => openSuggested(f)).addTo(suggested);
  }
  const n = fc.features.length;
  // The ranking's top n, when the map shows the top of the ranking.
  const top = new Set(windowStart === 0 ? ranked.slice(0, n).map((f) => f.id) : []);
  const inTop = fc.features.filter((f) => top.has(f.id)).length;
  const pct = fc.total_demand > 0 ? (100 * fc.covered_demand / fc.total_demand).toFixed(1) : '0';
  const items = fc.features.map((f) => {
    const r = ranked.find((x) => x.id === f.id);
    const where = r ? `#${r.properties.rank} in the list` : 'not in the list';
    return `<li data-id="${escapeHTML(f.id)}"><a href="#" class="o-open">${escapeHTML(f.properties.name)}</a> <span class="small">(${where}; adds ${fmt(Math.round(f.properties.marginal))})</span></li>`;
  }).join('');
  out.innerHTML = `<p id="o-stale" class="error" hidden>The filters have changed since these were chosen: suggest again to choose among the units listed now.</p><ol>${items}</ol>`
    + `<p>${fc.model}: ${pct}% of deprivation-weighted demand in ${fc.demand_lsoas} LSOAs within ${fc.radius_m} m of a site; chosen among ${fmt(fc.candidates)} units.</p>`
    + `<p class="set-vs-top">A set, not a top ${n}: each site is chosen for the people it reaches that the sites before it do not, so neighbouring high scorers are rarely both chosen.${windowStart === 0 ? ` ${inTop} of these ${n} are in the ranking's top ${n}.` : ''} <a href="help.html#suggested" target="_blank" rel="noopener">More</a></p>`
    + `<p>${fc.equity.slice(0, 3).map(escapeHTML).join('<br>')}</p>`
    + ((fc.fixed || []).length ? `<p class="fixed-notes">${fc.fixed.map((f) => escapeHTML(f.note)).join('<br>')}</p>` : '')
    + `<p><button type="button" id="o-shortlist">Add these ${n} to the shortlist</button></p>`
    + `<p class="small">Download: <a href="#" data-format="xlsx">Excel</a> · <a href="#" data-format="csv">CSV</a> · <a href="#" data-format="geojson">GeoJSON</a> · <a href="#" data-format="gpkg">GeoPackage</a></p>`;
  for (const a of out.querySelectorAll('.o-open')) {
    a.addEventListener('click', (e) => { e.preventDefault(); openSuggested(fc.features.find((f) => f.id === a.parentElement.dataset.id)); });
  }
  document.getElementById('o-shortlist').addEventListener('click', () => addToShortlist(fc.features.map((f) => f.id)));
  for (const a of out.querySelectorAll('a[data-format]')) {
    a.addEventListener('click', (e) => { e.preventDefault(); downloadSuggestion(a.dataset.format); });
  }
}

// A suggested site opens like a unit of the list: its breakdown, selected for the shortlist.
function openSuggested(f) {
  if (ranked.some((x) => x.id === f.id)) { select(f.id, true); return; }
  // Not in the list now (the filters changed): its breakdown as the suggestion gave it.
  state.selected = f.id;
  document.getElementById('sl-add').disabled = false;
  for (const li of document.querySelectorAll('#ranking li')) li.classList.remove('selected');
  const at = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
  selectedRing.setLatLng(at).addTo(map);
  map.panTo(at);
  openBreakdown(f);
  syncURL();
}

async function downloadSuggestion(format) {
  const { body, query } = suggestion;
  const q = new URLSearchParams(query);
  q.set('format', format);
  try {
    const r = await fetch(`optimise?${q}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || r.statusText);
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `sitefinder-suggested-sites.${format}`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { document.getElementById('o-result').insertAdjacentText('beforeend', ` ${e.message}`); }
}

// --- writes: the bearer token ---------------------------------------------------------------
const tokenInput = document.getElementById('token');
tokenInput.value = sessionStorage.getItem('sitefinder-token') || '';
tokenInput.addEventListener('change', () => sessionStorage.setItem('sitefinder-token', tokenInput.value.trim()));

// Asks for the token in a dialog that says why; resolves with it, or null if cancelled.
function askToken(why) {
  const dlg = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  document.getElementById('token-why').textContent = why;
  input.value = tokenInput.value;
  dlg.returnValue = '';
  dlg.showModal();
  input.focus();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      const t = input.value.trim();
      if (dlg.returnValue !== 'ok' || !t) { resolve(null); return; }
      tokenInput.value = t;
      sessionStorage.setItem('sitefinder-token', t);
      resolve(t);
    }, { once: true });
  });
}

// A change on the server (shortlists, notes, plan uploads): asks for the write token the first
// time, and again once if the server does not accept it.
async function write(method, url, body, contentType = 'application/json') {
  if (!tokenInput.value.trim()) {
    const t = await askToken('Saving changes (shortlists, notes, plan uploads) needs this server\'s write token. Ask whoever runs sitefinder for it: it is shown when the server starts. Looking at the map needs none.');
    if (!t) throw new Error('Not saved: saving changes needs the write token.');
  }
  for (let attempt = 0; ; attempt++) {
    const headers = { authorization: `Bearer ${tokenInput.value.trim()}` };
    if (body !== undefined) headers['content-type'] = contentType;
    const r = await fetch(url, { method, headers, body });
    const v = await r.json().catch(() => ({}));
    const refused = r.status === 401 || (r.status === 403 && v.code === 'forbidden');
    if (refused && attempt === 0) {
      const t = await askToken(`The server did not accept the token: ${v.message}`);
      if (!t) throw new Error(`Not saved: ${v.message}`);
      continue;
    }
    if (!r.ok) throw new Error(v.message || r.statusText);
    return v;
  }
}

function say(id, text, isError) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.toggle('error', !!isError);
}

// --- council plan overlays -------------------------------------------------------------------
const PLAN_COLOURS = ['#e65100', '#6a1b9a', '#00838f', '#ad1457', '#558b2f'];
let overlays = [];
const planLayers = new Map(); // overlay id -> its drawn areas
async function loadOverlays() {
  let v;
  try { v = await getJSON('overlays'); } catch (e) { say('ov-msg', e.message, true); return; }
  overlays = v.overlays;
  const list = document.getElementById('ov-list');
  list.innerHTML = '';
  layers.plans.clearLayers();
  if (state.overlay && !overlays.some((o) => String(o.id) === state.overlay)) { state.overlay = ''; scheduleRanking(); }
  overlays.forEach((o, i) => {
    const li = document.createElement('li');
    li.dataset.id = o.id;
    li.innerHTML = `<label><input type="radio" name="ov-use" value="${o.id}" ${String(o.id) === state.overlay ? 'checked' : ''}> use in ranking: <b>${escapeHTML(o.name)}</b></label>`
      + `<span class="small">${o.features} area${o.features === 1 ? '' : 's'}, ${escapeHTML(o.crs)}${o.repaired.length ? `, ${o.repaired.length} repaired` : ''}</span>`
      + `<button type="button" class="ov-delete">delete</button>`;
    li.querySelector('input').addEventListener('change', () => {
      state.overlay = String(o.id);
      scheduleRanking();
      // Choosing a plan zooms to its areas.
      const drawn = planLayers.get(String(o.id));
      if (drawn && drawn.getBounds().isValid()) map.fitBounds(drawn.getBounds(), { padding: [30, 30], maxZoom: 16 });
    });
    li.querySelector('.ov-delete').addEventListener('click', async () => {
      try { await write('DELETE', `overlays/${o.id}`); say('ov-msg', `deleted ${o.name}`); } catch (e) { say('ov-msg', e.message, true); return; }
      loadOverlays();
    });
    list.appendChild(li);
    getJSON(`overlays/${o.id}`).then((fc) => {
      const drawn = L.geoJSON(fc, { pane: 'areas', style: { className: 'plan-area', color: PLAN_COLOURS[i % PLAN_COLOURS.length], weight: 2, dashArray: '6 4', fillOpacity: 0.12 } })
        .bindTooltip((l) => `${escapeHTML(o.name)}: ${escapeHTML(l.feature.properties.label)}`).addTo(layers.plans);
      planLayers.set(String(o.id), drawn);
    }).catch(() => {});
  });
  if (overlays.length) {
    const none = document.createElement('li');
    none.innerHTML = `<label><input type="radio" name="ov-use" value="" ${state.overlay ? '' : 'checked'}> no plan in the ranking</label>`;
    none.querySelector('input').addEventListener('change', () => { state.overlay = ''; scheduleRanking(); });
    list.appendChild(none);
  }
}
document.getElementById('ov-upload').addEventListener('click', async () => {
  const file = document.getElementById('ov-file').files[0];
  const name = document.getElementById('ov-name').value.trim() || (file && file.name.replace(/\.[^.]+$/, ''));
  if (!file) { say('ov-msg', 'choose a file first', true); return; }
  const q = new URLSearchParams({ name, filename: file.name });
  if (document.getElementById('ov-repair').checked) q.set('repair', 'true');
  say('ov-msg', 'uploading…');
  try {
    const o = await write('POST', `overlays?${q}`, file, 'application/octet-stream');
    say('ov-msg', `added ${o.name}: ${o.features} area${o.features === 1 ? '' : 's'} (${o.crs})${o.repaired.length ? `; repaired feature ${o.repaired.join(', ')}` : ''}`);
    state.overlay = String(o.id);
    await loadOverlays();
    scheduleRanking();
  } catch (e) { say('ov-msg', e.message, true); }
});
const withinInput = document.getElementById('ov-within');
withinInput.value = state.planWithin;
withinInput.addEventListener('change', () => { state.planWithin = withinInput.value.trim(); scheduleRanking(); });

// --- shortlists ------------------------------------------------------------------------------
const slName = document.getElementById('sl-name');
slName.value = params.get('shortlist') || '';
async function loadShortlistNames() {
  try {
    const v = await getJSON('shortlists');
    document.getElementById('sl-names').innerHTML = v.shortlists.map((s) => `<option value="${escapeHTML(s.name)}">`).join('');
  } catch (e) { /* a server without state: the section says so on use */ }
}
let shortlistRequest = 0;
async function showShortlist() {
  const id = ++shortlistRequest;
  const name = slName.value.trim();
  const ol = document.getElementById('sl-sites');
  const dl = document.getElementById('sl-downloads');
  if (!name) { ol.innerHTML = ''; dl.hidden = true; return; }
  let s;
  try { s = await getJSON(`shortlists/${encodeURIComponent(name)}`); } catch (e) {
    if (id !== shortlistRequest) return;
    ol.innerHTML = '';
    dl.hidden = true;
    say('sl-msg', 'new shortlist: add units to create it');
    return;
  }
  // Only the latest answer is drawn, so two shortlists chosen quickly never mix.
  if (id !== shortlistRequest) return;
  ol.innerHTML = '';
  for (const site of s.sites) {
    const li = document.createElement('li');
    li.dataset.id = site.id;
    const unit = ranked.find((f) => f.id === site.id);
    li.innerHTML = `${escapeHTML(unit ? unit.properties.name : site.id)}<input class="sl-note" placeholder="note" value="${escapeHTML(site.note)}"><button type="button" class="sl-remove">remove</button>`;
    li.querySelector('.sl-note').addEventListener('change', async (e) => {
      try { await write('PUT', `shortlists/${encodeURIComponent(name)}/sites/${encodeURIComponent(site.id)}`, JSON.stringify({ note: e.target.value })); say('sl-msg', 'note saved'); } catch (err) { say('sl-msg', err.message, true); }
    });
    li.querySelector('.sl-remove').addEventListener('click', async () => {
      try { await write('DELETE', `shortlists/${encodeURIComponent(name)}/sites/${encodeURIComponent(site.id)}`); } catch (err) { say('sl-msg', err.message, true); return; }
      showShortlist();
    });
    ol.appendChild(li);
  }
  for (const f of ['xlsx', 'csv', 'geojson', 'gpkg', 'pdf']) {
    document.getElementById(`sl-dl-${f}`).href = `shortlists/${encodeURIComponent(name)}/export?format=${f}`;
  }
  dl.hidden = s.sites.length === 0;
  say('sl-msg', `${s.sites.length} site${s.sites.length === 1 ? '' : 's'}; updated ${s.updated.slice(0, 16).replace('T', ' ')} UTC`);
}
// A new shortlist records the query it was made from: the ranking's (without its page size),
// or `madeFrom` when given (the top places' query, with one_per_site and top).
async function addToShortlist(ids, madeFrom) {
  const name = slName.value.trim();
  if (!name) { say('sl-msg', 'give the shortlist a name first', true); return; }
  const body = JSON.stringify({ ids });
  try {
    await write('POST', `shortlists/${encodeURIComponent(name)}/sites`, body);
  } catch (e) {
    if (!/no shortlist/.test(e.message)) { say('sl-msg', e.message, true); return; }
    const q = madeFrom || rankQuery();
    q.delete('limit');
    q.delete('offset');
    try {
      await write('POST', 'shortlists', JSON.stringify({ name, ids, weights: CRITERIA.map((c) => `${c}=${state.weights[c]}`).join(','), query: q.toString() }));
    } catch (e2) { say('sl-msg', e2.message, true); return; }
  }
  await loadShortlistNames();
  await showShortlist();
}
slName.addEventListener('change', () => { syncURL(); showShortlist(); });
document.getElementById('sl-add').addEventListener('click', () => { if (state.selected) addToShortlist([state.selected]); });
// The top five places: the server keeps the best unit of each site (one_per_site), so five
// units of one arcade count once.
document.getElementById('sl-top').addEventListener('click', async () => {
  // The top of the whole ranking, whichever window of it the map shows.
  const q = rankQuery();
  q.delete('offset');
  q.set('limit', '5');
  q.set('one_per_site', 'true');
  let fc;
  try { fc = await getJSON(`rank?${q}`); } catch (e) { say('sl-msg', e.message, true); return; }
  const madeFrom = new URLSearchParams(q);
  madeFrom.set('top', '5');
  addToShortlist(fc.features.map((f) => f.id), madeFrom);
});
function updateRankDownloads() {
  const q = rankQuery();
  q.delete('limit');
  q.delete('offset');
  for (const f of ['xlsx', 'csv']) { q.set('format', f); document.getElementById(`rank-dl-${f}`).href = `rank?${q}`; }
}

// PCN names for the filter's suggestions.
getJSON('collections/practices/items?bbox=' + bboxParam() + '&limit=2000').then((fc) => {
  const names = [...new Set(fc.features.map((f) => f.properties.pcn_name).filter(Boolean))].sort();
  document.getElementById('pcn-list').innerHTML = names.map((n) => `<option value="${escapeHTML(n)}">`).join('');
}).catch(() => {});

// Phones: the panel is a bottom sheet; its handle opens and closes it, and a unit chosen on the
// map opens it at the unit's breakdown.
const sheetToggle = document.getElementById('sheet-toggle');
function openSheet(open) {
  document.body.classList.toggle('sheet-open', open);
  sheetToggle.setAttribute('aria-expanded', String(open));
  document.getElementById('sheet-label').textContent = open ? '▾ Show the map' : `▴ Ranking of ${fmt(matched)} units, filters, shortlist`;
  setTimeout(() => map.invalidateSize(), 250);
}
sheetToggle.addEventListener('click', () => openSheet(!document.body.classList.contains('sheet-open')));
new MutationObserver(() => { if (!document.body.classList.contains('sheet-open')) openSheet(false); })
  .observe(document.getElementById('count'), { childList: true, characterData: true, subtree: true });

// The attribution as the server's data says it.
getJSON('attribution?f=json').then((a) => {
  document.getElementById('attribution-text').textContent = a.attribution.join(' ');
}).catch(() => {});

loadView();
refreshRanking();
loadOverlays();
loadShortlistNames().then(showShortlist);
