// Orientation without internet: place names drawn from the shipped data (local authorities when
// zoomed out, wards from zoom 13), a search box for postcodes, places and units (GET /search),
// zooming to the PCN or local authority the filters name, and the online base map the server
// may have been started with (GET /map-config). Loaded after app.js, whose globals it uses:
// map, getJSON, escapeHTML and select.
'use strict';

(() => {
  const WARD_ZOOM = 13;
  const KIND_LABELS = { postcode: 'Postcode', local_authority: 'Local authority', ward: 'Ward', pcn: 'PCN', unit: 'Unit' };

  // --- place labels ----------------------------------------------------------------------------
  // Their own pane: above the areas (350) and the existing sites (450), below the candidate units
  // (620), and never in the way of a click.
  const labelPane = map.createPane('labels');
  labelPane.style.zIndex = 460;
  labelPane.style.pointerEvents = 'none';
  const labels = L.layerGroup().addTo(map);
  let hasPlaces = true;

  const measure = document.createElement('canvas').getContext('2d');
  function labelBox(kind, text, at) {
    measure.font = { local_authority: '600 14px system-ui, sans-serif', pcn: '600 13px system-ui, sans-serif' }[kind] || 'italic 600 12px system-ui, sans-serif';
    const shown = kind === 'local_authority' ? text.toUpperCase() : text;
    const w = measure.measureText(shown).width * (kind === 'local_authority' ? 1.12 : 1) + 6;
    const h = kind === 'local_authority' ? 18 : 16;
    return { x0: at.x - w / 2, x1: at.x + w / 2, y0: at.y - h / 2, y1: at.y + h / 2 };
  }
  const overlaps = (a, b) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

  function viewBbox() {
    const b = map.getBounds().pad(0.1);
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(5)).join(',');
  }

  // The place last chosen in the search box or a filter: its name is written first, whatever
  // the zoom.
  let chosen = null;
  // Where names cannot go: outside the map, and under its controls (search, zoom, layers,
  // legend, attribution).
  function occupied() {
    const m = map.getContainer().getBoundingClientRect();
    const size = map.getSize();
    const boxes = [...map.getContainer().querySelectorAll('.leaflet-control')].map((el) => {
      const r = el.getBoundingClientRect();
      return { x0: r.left - m.left, x1: r.right - m.left, y0: r.top - m.top, y1: r.bottom - m.top };
    });
    const inside = (b) => b.x0 >= 0 && b.y0 >= 0 && b.x1 <= size.x && b.y1 <= size.y;
    return { boxes, inside };
  }
  function addLabel(kind, name, lat, lon, extra) {
    L.marker([lat, lon], {
      pane: 'labels', interactive: false, keyboard: false,
      icon: L.divIcon({ className: `place-label place-${kind}${extra || ''}`, html: `<span>${escapeHTML(name)}</span>`, iconSize: null }),
    }).addTo(labels);
  }

  let labelRequest = 0;
  async function drawLabels() {
    const id = ++labelRequest;
    if (!hasPlaces) return;
    const kind = map.getZoom() >= WARD_ZOOM ? 'ward' : 'local_authority';
    let fc;
    try {
      fc = await getJSON(`collections/places/items?bbox=${viewBbox()}&kind=${kind}&limit=2000`);
    } catch (e) { return; }
    if (id !== labelRequest) return;
    labels.clearLayers();
    const { boxes: placed, inside } = occupied();
    if (chosen) {
      placed.push(labelBox(chosen.kind, chosen.name, map.latLngToContainerPoint([chosen.lat, chosen.lon])));
      addLabel(chosen.kind, chosen.name, chosen.lat, chosen.lon, ' place-chosen');
    }
    // The most populous first; a name that would overlap one already written (or a control, or
    // the edge of the map) is left out.
    const feats = fc.features.slice().sort((a, b) => (b.properties.population || 0) - (a.properties.population || 0) || (a.id < b.id ? -1 : 1));
    for (const f of feats) {
      if (chosen && f.id === chosen.code) continue;
      const [lon, lat] = f.geometry.coordinates;
      const box = labelBox(kind, f.properties.name, map.latLngToContainerPoint([lat, lon]));
      if (!inside(box) || placed.some((p) => overlaps(p, box))) continue;
      placed.push(box);
      addLabel(kind, f.properties.name, lat, lon);
    }
  }
  let labelTimer = null;
  map.on('moveend', () => { clearTimeout(labelTimer); labelTimer = setTimeout(drawLabels, 60); });

  // --- the optional online base map, and whether there are places ----------------------------
  getJSON('map-config').then((c) => {
    hasPlaces = c.places !== false;
    if (c.base_map) {
      L.tileLayer(c.base_map.url, { attribution: escapeHTML(c.base_map.attribution), maxZoom: 19 }).addTo(map);
    }
    drawLabels();
  }).catch(() => drawLabels());

  // --- going to a place --------------------------------------------------------------------------
  const pin = L.layerGroup().addTo(map);
  function dropPin(lat, lon, text) {
    pin.clearLayers();
    L.circleMarker([lat, lon], { pane: 'labels', className: 'search-pin', radius: 14, color: '#c2185b', weight: 3, fill: false, interactive: false }).addTo(pin);
    L.marker([lat, lon], {
      pane: 'labels', interactive: false, keyboard: false,
      icon: L.divIcon({ className: 'place-label search-pin-label', html: `<span>${escapeHTML(text)}</span>`, iconSize: null }),
    }).addTo(pin);
  }

  // Padding that keeps a fitted area clear of the search box above it and of tall controls at
  // its sides (the legend, on a phone).
  function clearOfControls() {
    const m = map.getContainer().getBoundingClientRect();
    let [left, right] = [24, 24];
    for (const el of map.getContainer().querySelectorAll('.leaflet-control')) {
      const r = el.getBoundingClientRect();
      if (r.height < m.height / 3) continue;
      if (r.left + r.width / 2 > m.left + m.width / 2) right = Math.max(right, m.right - r.left + 8);
      else left = Math.max(left, r.right - m.left + 8);
    }
    const top = Math.max(24, searchBox.getBoundingClientRect().bottom - m.top + 8);
    return { paddingTopLeft: [left, top], paddingBottomRight: [right, 24] };
  }

  function goTo(f) {
    const p = f.properties;
    const [lon, lat] = f.geometry.coordinates;
    chosen = ['local_authority', 'ward', 'pcn'].includes(p.kind) ? { kind: p.kind, code: p.id, name: p.name, lat, lon } : null;
    if (p.kind === 'unit') {
      map.setView([lat, lon], Math.max(map.getZoom(), 17));
      // In the ranking (on any page of the list): select() turns the list to it.
      const listed = typeof ranked !== 'undefined' && ranked.some((u) => u.id === p.id);
      if (listed && typeof select === 'function') {
        pin.clearLayers();
        select(p.id, true);
        return null;
      }
      dropPin(lat, lon, p.name);
      return 'This unit is not in the current ranking (the filters leave it out).';
    }
    if (p.bbox) {
      const [w, s, e, n] = p.bbox;
      map.fitBounds([[s, w], [n, e]], { ...clearOfControls(), maxZoom: 16 });
      if (p.kind === 'postcode') dropPin(lat, lon, p.name); else pin.clearLayers();
      drawLabels();
    } else {
      map.setView([lat, lon], 16);
      dropPin(lat, lon, p.name);
    }
    return null;
  }

  // --- the search box ----------------------------------------------------------------------------
  const Search = L.Control.extend({
    options: { position: 'topleft' },
    onAdd() {
      const div = L.DomUtil.create('div', 'place-search leaflet-bar');
      div.innerHTML = '<input id="place-search" type="search" role="combobox" aria-autocomplete="list" aria-expanded="false" aria-controls="place-results" autocomplete="off" spellcheck="false" placeholder="Postcode, place or unit" aria-label="Find a postcode, place (local authority, ward, PCN) or unit">'
        + '<ul id="place-results" role="listbox" aria-label="Search results" hidden></ul><p id="place-note" role="status" hidden></p>';
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    },
  });
  const control = new Search().addTo(map);
  // First in its corner, above the zoom buttons.
  const searchBox = control.getContainer();
  searchBox.parentNode.insertBefore(searchBox, searchBox.parentNode.firstChild);
  // Its results open over the other corners' controls (the legend, on a phone).
  searchBox.parentNode.style.zIndex = 1001;
  const input = searchBox.querySelector('#place-search');
  const list = searchBox.querySelector('#place-results');
  const note = searchBox.querySelector('#place-note');

  let shown = { q: null, features: [] };
  let active = -1;
  function say(text) {
    note.textContent = text || '';
    note.hidden = !text;
  }
  function close() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }
  function render(features, message) {
    list.innerHTML = '';
    active = -1;
    if (message) {
      list.innerHTML = `<li class="empty" role="option" aria-disabled="true">${escapeHTML(message)}</li>`;
    }
    features.forEach((f, i) => {
      const p = f.properties;
      const li = document.createElement('li');
      li.id = `place-result-${i}`;
      li.setAttribute('role', 'option');
      li.dataset.kind = p.kind;
      li.innerHTML = `<span class="kind">${KIND_LABELS[p.kind] || p.kind}</span><b>${escapeHTML(p.name)}</b><span class="detail">${escapeHTML(p.detail)}</span>`;
      li.addEventListener('mousedown', (e) => e.preventDefault());
      li.addEventListener('click', () => pick(i));
      list.appendChild(li);
    });
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }
  function highlight(i) {
    const items = list.querySelectorAll('li[role=option]:not(.empty)');
    if (!items.length) return;
    active = Math.max(0, Math.min(items.length - 1, i));
    items.forEach((li, j) => li.setAttribute('aria-selected', j === active ? 'true' : 'false'));
    input.setAttribute('aria-activedescendant', items[active].id);
    items[active].scrollIntoView({ block: 'nearest' });
  }

  let searchRequest = 0;
  async function run(q) {
    const id = ++searchRequest;
    let fc;
    try {
      fc = await getJSON(`search?q=${encodeURIComponent(q)}&limit=8`);
    } catch (e) {
      if (id === searchRequest) { shown = { q, features: [] }; list.dataset.q = q; render([], e.message.replace(/^q: /, '')); }
      return shown;
    }
    if (id !== searchRequest) return shown;
    shown = { q, features: fc.features };
    list.dataset.q = q;
    render(fc.features, fc.features.length ? null : 'No postcode, place or unit matches');
    return shown;
  }

  function pick(i) {
    const f = shown.features[i];
    if (!f) return;
    close();
    input.value = f.properties.name;
    say(goTo(f));
  }

  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    say(null);
    const q = input.value.trim();
    if (!q) { searchRequest++; close(); pin.clearLayers(); chosen = null; drawLabels(); return; }
    timer = setTimeout(() => run(q), 180);
  });
  input.addEventListener('keydown', async (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (list.hidden && shown.features.length) render(shown.features);
      highlight(active + (e.key === 'ArrowDown' ? 1 : -1));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const q = input.value.trim();
      if (!q) return;
      clearTimeout(timer);
      // Enter picks the highlighted result, else the first (searching first if the results
      // are not yet those of the text typed).
      const results = shown.q === q ? shown : await run(q);
      if (input.value.trim() !== q) return;
      pick(active >= 0 && shown.q === q ? active : 0);
      if (!results.features.length) render([], 'No postcode, place or unit matches');
    } else if (e.key === 'Escape') {
      if (!list.hidden) close(); else { input.value = ''; pin.clearLayers(); chosen = null; drawLabels(); say(null); }
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('focus', () => { if (shown.q && shown.q === input.value.trim()) render(shown.features); });

  // --- the filters: choosing a PCN or a local authority zooms to it ----------------------------
  async function zoomToNamed(kind, value) {
    const v = value.trim();
    if (!v) return;
    let fc;
    try { fc = await getJSON(`search?q=${encodeURIComponent(v)}&limit=20`); } catch (e) { return; }
    const f = fc.features.find((x) => x.properties.kind === kind && x.properties.match === 'exact');
    if (f) goTo(f);
  }
  for (const [id, kind] of [['f-pcn', 'pcn'], ['f-lad', 'local_authority']]) {
    const el = document.getElementById(id);
    if (el) el.addEventListener('change', () => zoomToNamed(kind, el.value));
  }
})();
