// graft's dashboard: the daemon's own API read from the browser. No
// framework and no inline code (the page's CSP forbids it); every text from
// the API goes in through textContent, never as HTML.
'use strict';

const TOKEN_KEY = 'graft.token';
const SVG = 'http://www.w3.org/2000/svg';
const TRAINING = new Set(['extract', 'features', 'step', 'epoch', 'done']);

// What the browser tests read, per epoch event: the time from its arrival
// at the page (and from the daemon recording it) to the frame that shows it
// on the curves.
window.graftUI = { epochToCurve: [] };

// page holds what the current view started (timers, the event stream), so
// that leaving the view stops it.
let page = { abort: new AbortController(), timers: [] };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
  }
  for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

const fmt = (x, d = 4) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : '–');
const fmtSec = (s) => (typeof s === 'number' ? (s < 10 ? s.toFixed(2) : s.toFixed(1)) + ' s' : '–');

function status(msg, isError) {
  const s = document.getElementById('status');
  s.textContent = msg || '';
  s.className = isError ? 'error' : '';
}

class AuthError extends Error {}

// api calls the daemon with the token; a 401 shows the token form.
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers);
  const tok = sessionStorage.getItem(TOKEN_KEY);
  if (tok) headers.Authorization = 'Bearer ' + tok;
  const res = await fetch(path, Object.assign({ signal: page.abort.signal }, opts, { headers }));
  if (res.status === 401) {
    // Stop the view's polling: wrong tokens are rate-limited per address.
    page.timers.forEach(clearInterval);
    page.abort.abort();
    showLogin(tok ? 'the daemon refused this token' : '');
    throw new AuthError('API token needed');
  }
  if (!res.ok) {
    let msg = res.statusText;
    try { msg = (await res.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(`${res.status}: ${msg}`);
  }
  return res;
}
const getJSON = async (path) => (await api(path)).json();

function showLogin(err) {
  const f = document.getElementById('login');
  f.hidden = false;
  document.getElementById('login-error').textContent = err || '';
  document.getElementById('token').focus();
}

function fail(e) {
  if (e instanceof AuthError || e.name === 'AbortError') return;
  status(e.message, true);
}

// every runs fn now and then every ms while the view lasts.
function every(ms, fn) {
  const run = () => fn().catch(fail);
  run();
  page.timers.push(setInterval(run, ms));
}

// deleteButton asks (confirm) and then sends DELETE path; done runs after.
// The listener is added here: the CSP forbids inline handlers.
function deleteButton(id, label, question, path, done) {
  const b = el('button', { type: 'button', class: 'delete', 'data-delete': path }, label);
  if (id) b.id = id;
  b.addEventListener('click', async () => {
    if (!window.confirm(question())) return;
    b.disabled = true;
    try {
      await api(path, { method: 'DELETE' });
      status(`deleted (${label.toLowerCase()})`);
      done();
    } catch (e) {
      b.disabled = false;
      fail(e);
    }
  });
  return b;
}

const versionPath = (m) => `/v1/models/${encodeURIComponent(m.name)}/versions/${m.version}`;
const versionQuestion = (m) => `Delete model ${m.name} version ${m.version}? Predictions in flight finish first; its export goes; the latest becomes the newest version left.`;

// ---- the jobs and models view ----

function progressCell(j) {
  const p = j.progress || {};
  if (!p.epochs && p.shards) { // a sharded extraction, before the epochs
    return el('td', {}, el('progress', { max: p.shards, value: p.shards_done || 0 }), ` shards ${p.shards_done || 0}/${p.shards}`);
  }
  if (!p.epochs) return el('td', { class: 'muted' }, { queued: 'waiting for a worker', running: 'reading the data' }[j.state] || '');
  const done = (p.epoch || 0) - 1 + (p.steps ? (p.step || 0) / p.steps : 0);
  const frac = j.state === 'succeeded' ? 1 : Math.max(0, done) / p.epochs;
  return el('td', {}, el('progress', { max: 1, value: frac }), ` epoch ${p.epoch || 0}/${p.epochs}`,
    p.loss ? ` loss ${fmt(p.loss)}` : '');
}

function jobsView(main) {
  const jobs = el('tbody');
  const models = el('tbody');
  main.append(
    el('section', {}, el('h1', {}, 'Jobs'),
      el('table', { id: 'jobs' }, el('thead', {}, el('tr', {}, ['job', 'model', 'state', 'progress', 'created'].map((h) => el('th', {}, h)))), jobs)),
    el('section', {}, el('h2', {}, 'Models'),
      el('table', { id: 'models' }, el('thead', {}, el('tr', {}, ['model', 'version', 'classes', 'job', ''].map((h) => el('th', {}, h)))), models)));
  every(1000, async () => {
    const [jl, ml] = await Promise.all([getJSON('/v1/jobs?order=newest'), getJSON('/v1/models')]);
    const list = (jl.jobs || []).slice().sort((a, b) => (a.created < b.created ? 1 : -1));
    jobs.replaceChildren(...list.map((j) => el('tr', { 'data-job-id': j.id, 'data-state': j.state },
      el('td', {}, el('a', { href: '#/jobs/' + encodeURIComponent(j.id) }, j.id)),
      el('td', {}, j.model),
      el('td', {}, el('span', { class: 'state ' + j.state }, j.state)),
      progressCell(j),
      el('td', {}, new Date(j.created).toLocaleString()))));
    if (jl.next) jobs.append(el('tr', {}, el('td', { colSpan: 5, class: 'muted' }, `the newest ${list.length} jobs; graft jobs ls lists them all`)));
    if (!list.length) jobs.append(el('tr', {}, el('td', { colSpan: 5, class: 'muted' }, 'no jobs yet: submit one with graft jobs submit or POST /v1/jobs')));
    models.replaceChildren(...(ml.models || []).map((m) => el('tr', { 'data-model': m.name },
      el('td', {}, el('a', { href: '#/models/' + encodeURIComponent(m.name) }, m.name)),
      el('td', { class: 'num' }, m.version), el('td', {}, (m.classes || []).join(', ') + (m.class_count ? ` … (${m.class_count})` : '')),
      el('td', {}, el('a', { href: '#/jobs/' + encodeURIComponent(m.job_id) }, m.job_id)),
      el('td', {}, deleteButton(null, 'Delete', () => versionQuestion(m), versionPath(m), () => {})))));
    if (!models.children.length) models.append(el('tr', {}, el('td', { colSpan: 5, class: 'muted' }, 'no models yet: each succeeded job registers one')));
    status('updated ' + new Date().toLocaleTimeString());
  });
}

// ---- charts: hand-drawn SVG line charts ----

// drawChart draws series ({name, cls, pts: [[x, y]...]}) on svg with x
// from 1 to xMax; y from the data (or the fixed yRange).
function drawChart(svg, title, series, xMax, yRange) {
  const W = 360, H = 220, L = 46, R = 10, T = 18, B = 24;
  const ys = series.flatMap((s) => s.pts.map((p) => p[1])).filter(isFinite);
  let [y0, y1] = yRange || [Math.min(...ys), Math.max(...ys)];
  if (!ys.length) [y0, y1] = yRange || [0, 1];
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 0.5; y1 += Math.abs(y1) * 0.1 || 0.5; }
  const xs = (x) => L + (xMax > 1 ? ((x - 1) / (xMax - 1)) * (W - L - R) : (W - L - R) / 2);
  const yv = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const kids = [svgEl('text', { x: L, y: 12 })];
  kids[0].textContent = title;
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    kids.push(svgEl('line', { class: 'grid', x1: L, x2: W - R, y1: yv(y), y2: yv(y) }));
    const t = svgEl('text', { x: L - 4, y: yv(y) + 3, 'text-anchor': 'end' });
    // Ticks as precise as the range needs (a learning rate spans 1e-5).
    const span = Math.abs(y1 - y0) || 1;
    t.textContent = span < 0.01 ? y.toExponential(Math.max(1, Math.min(4, Math.ceil(-Math.log10(span / Math.max(Math.abs(y), 1e-30)))))) : y.toFixed(3);
    kids.push(t);
  }
  const step = Math.max(1, Math.ceil(xMax / 10));
  for (let x = 1; x <= xMax; x += step) {
    const t = svgEl('text', { x: xs(x), y: H - 8, 'text-anchor': 'middle' });
    t.textContent = x;
    kids.push(t);
  }
  kids.push(svgEl('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }), svgEl('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  for (const s of series) {
    const pts = s.pts.filter((p) => isFinite(p[1]));
    kids.push(svgEl('polyline', { class: s.cls, points: pts.map((p) => `${xs(p[0]).toFixed(1)},${yv(p[1]).toFixed(1)}`).join(' ') }));
    for (const p of pts) kids.push(svgEl('circle', { class: s.cls, cx: xs(p[0]), cy: yv(p[1]), r: 2.5, 'data-epoch': p[0] }));
  }
  svg.replaceChildren(...kids);
  svg.dataset.points = Math.max(0, ...series.map((s) => s.pts.length));
}

function chart(id, legend) {
  return el('div', {}, svgChart(id), el('div', { class: 'legend' }, legend.map(([cls, name]) => el('span', { class: cls }, '— ' + name))));
}

function svgChart(id) {
  const s = svgEl('svg', { id, class: 'chart', viewBox: '0 0 360 220', 'data-points': '0' });
  return s;
}

// ---- the job view ----

function jobView(main, id) {
  const epochs = new Map(); // epoch -> metrics (a resumed attempt replaces)
  let job = null;
  let lastSeq = 0;
  const extracted = {}; // the features events' sums
  const ended = () => job && ['succeeded', 'failed', 'cancelled'].includes(job.state);
  const head = el('section', {}, el('h1', {}, 'Job ', id, ' ', deleteButton('delete-job', 'Delete job',
    () => `Delete job ${id}${ended() || !job ? '' : ` (${job.state}: it is cancelled first)`}? Its record, log and run directory go; the model versions it registered stay (delete them from the models list).`,
    `/v1/jobs/${encodeURIComponent(id)}?cancel=true`, () => { location.hash = '#/'; })));
  const info = el('div');
  head.append(info);
  const curves = el('section', {}, el('h2', {}, 'Curves (per epoch, from the event stream)'),
    el('div', { class: 'charts' },
      chart('chart-loss', [['s0', 'train loss'], ['s1', 'validation loss']]),
      chart('chart-accuracy', [['s0', 'train accuracy'], ['s1', 'validation accuracy']]),
      chart('chart-lr', [['lr', 'learning rate']])));
  const timing = el('section', {}, el('h2', {}, 'Timings'), el('div', { id: 'timings', class: 'muted' }, 'no stage has finished yet'));
  const epochTable = el('tbody');
  const epochsSec = el('section', {}, el('h2', {}, 'Epochs'), el('table', { id: 'epochs' },
    el('thead', {}, el('tr', {}, ['epoch', 'loss', 'accuracy', 'val loss', 'val accuracy', 'lr', 'seconds'].map((h) => el('th', { class: 'num' }, h)))), epochTable));
  const evalSec = el('section', { id: 'evaluation' }, el('h2', {}, 'Best epoch on the validation split'), el('p', { class: 'muted' }, 'shown once the job has succeeded'));
  const logPre = el('pre', { id: 'log' });
  const logSec = el('section', {}, el('h2', {}, 'Log'), logPre);
  main.append(head, curves, epochsSec, timing, evalSec, logSec);

  const redraw = () => {
    const ms = [...epochs.values()].sort((a, b) => a.epoch - b.epoch);
    const xMax = Math.max(job && job.spec ? job.spec.epochs : 1, ...ms.map((m) => m.epoch));
    const pts = (k) => ms.map((m) => [m.epoch, m[k]]);
    drawChart(document.getElementById('chart-loss'), 'loss', [{ cls: 's0', pts: pts('loss') }, { cls: 's1', pts: pts('val_loss') }], xMax);
    drawChart(document.getElementById('chart-accuracy'), 'accuracy', [{ cls: 's0', pts: pts('accuracy') }, { cls: 's1', pts: pts('val_accuracy') }], xMax, [0, 1]);
    drawChart(document.getElementById('chart-lr'), 'learning rate', [{ cls: 'lr', pts: pts('lr') }], xMax);
    epochTable.replaceChildren(...ms.map((m) => el('tr', {}, el('td', { class: 'num' }, m.epoch),
      ...[m.loss, m.accuracy, m.val_loss, m.val_accuracy].map((v) => el('td', { class: 'num' }, fmt(v))),
      el('td', { class: 'num' }, typeof m.lr === 'number' ? m.lr.toExponential(2) : '–'), el('td', { class: 'num' }, fmt(m.seconds, 2)))));
  };

  const showInfo = () => {
    const p = job.progress || {};
    const kids = [el('p', {}, el('span', { id: 'job-state', class: 'state ' + job.state, 'data-state': job.state }, job.state),
      !p.epochs && p.shards ? ` shards ${p.shards_done || 0} of ${p.shards} extracted` : '',
      p.epochs ? ` epoch ${p.epoch || 0} of ${p.epochs}` : '', p.steps ? `, step ${p.step || 0} of ${p.steps}` : '',
      p.loss ? `, loss ${fmt(p.loss)}` : '')];
    kids.push(el('p', { class: 'muted' }, `backbone ${job.spec.backbone} at ${job.spec.tap}, head ${job.spec.head}, ${job.spec.optimizer} lr ${job.spec.lr}, data ${job.spec.data}`));
    if (job.state === 'succeeded') kids.push(el('p', {}, 'model ', el('a', { id: 'model-link', href: '#/models/' + encodeURIComponent(job.model) }, `${job.model} (version ${job.version})`)));
    if (job.error) kids.push(el('p', { class: 'error' }, job.error));
    info.replaceChildren(...kids);
  };

  const showTimings = (features, summary) => {
    const rows = [];
    const t = summary && summary.timing;
    if (t) {
      rows.push(['decode', t.decode_seconds, t.decode_images_per_s], ['backbone', t.backbone_seconds, t.backbone_images_per_s], ['head (training)', t.head_seconds, t.head_images_per_s]);
    } else if (features) {
      rows.push(['hash', features.hash_seconds], ['decode', features.decode_seconds], ['backbone', features.backbone_seconds]);
    }
    if (!rows.length) return;
    const extra = summary ? `${summary.train_samples} training and ${summary.val_samples} validation samples, ${summary.feature_cache_hits} features from the cache, ${summary.features_computed} computed, on ${summary.device}`
      : `${features.samples} samples, ${features.cache_hits} from the feature cache`;
    document.getElementById('timings').replaceWith(el('div', { id: 'timings' },
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'stage'), el('th', { class: 'num' }, 'seconds'), el('th', { class: 'num' }, 'images/s'))),
        el('tbody', {}, rows.map(([n, s, r]) => el('tr', { 'data-stage': n }, el('td', {}, n), el('td', { class: 'num' }, fmtSec(s)), el('td', { class: 'num' }, r ? r.toFixed(0) : '–'))))),
      el('p', { class: 'muted' }, extra)));
  };

  let evaluated = false;
  const showEvaluation = async () => {
    if (evaluated || !job || job.state !== 'succeeded') return;
    evaluated = true;
    let ev;
    try {
      ev = await getJSON(`/v1/jobs/${encodeURIComponent(id)}/evaluation`);
    } catch (e) {
      evaluated = false; // the next refresh tries again
      throw e;
    }
    const names = ev.classes.map((c) => c.name);
    const summary = job.summary || {};
    evalSec.replaceChildren(el('h2', {}, `Best epoch (${ev.best_epoch}, by ${summary.monitor || 'its monitor'}) on the validation split`),
      el('p', {}, `${ev.samples} samples, accuracy ${fmt(ev.accuracy)}, macro F1 ${fmt(ev.macro_f1)}`),
      el('div', { class: 'charts' },
        el('div', {}, el('h2', {}, 'Per class'), el('table', { id: 'per-class' },
          el('thead', {}, el('tr', {}, ['class', 'precision', 'recall', 'f1', 'support'].map((h) => el('th', { class: 'num' }, h)))),
          el('tbody', {}, ev.classes.map((c) => el('tr', { 'data-class': c.name }, el('td', {}, c.name),
            el('td', { class: 'num' }, fmt(c.precision)), el('td', { class: 'num' }, fmt(c.recall)), el('td', { class: 'num' }, fmt(c.f1)), el('td', { class: 'num' }, c.support)))))),
        el('div', {}, el('h2', {}, 'Confusion matrix (rows: true class, columns: predicted)'), el('table', { id: 'confusion' },
          el('thead', {}, el('tr', {}, el('th', {}, ''), names.map((n) => el('th', { class: 'num' }, n)))),
          el('tbody', {}, ev.confusion.map((row, i) => el('tr', { 'data-class': names[i] }, el('th', {}, names[i]),
            row.map((n, k) => el('td', { class: 'num' + (i === k ? ' diag' : '') }, n)))))))));
  };

  const refreshJob = async () => {
    job = await getJSON('/v1/jobs/' + encodeURIComponent(id));
    showInfo();
    redraw();
    if (job.summary) showTimings(null, job.summary);
    await showEvaluation();
  };
  const refreshLog = async () => {
    const atEnd = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 4;
    logPre.textContent = await (await api(`/v1/jobs/${encodeURIComponent(id)}/log`)).text();
    if (atEnd) logPre.scrollTop = logPre.scrollHeight;
  };

  // onEvent applies one event; arrived is when its bytes reached the page.
  const onEvent = (ev, arrived) => {
    lastSeq = Math.max(lastSeq, ev.seq);
    const d = ev.data || {};
    if (ev.type === 'epoch' && d.metrics) {
      epochs.set(d.metrics.epoch, d.metrics);
      if (job) {
        job.progress = Object.assign({}, job.progress, { epoch: d.metrics.epoch, epochs: d.epochs });
        showInfo();
      }
      redraw();
      requestAnimationFrame(() => {
        const now = performance.now();
        const recorded = Date.parse(ev.time); // by the daemon: same host, same clock
        window.graftUI.epochToCurve.push({ epoch: d.metrics.epoch, recorded, fromArrival: now - arrived, fromRecorded: performance.timeOrigin + now - recorded });
        document.getElementById('chart-loss').dataset.lastEventToCurveMs = (now - arrived).toFixed(2);
      });
    } else if (ev.type === 'extract' && d.split === 'shards' && job) {
      job.progress = Object.assign({}, job.progress, { shards_done: d.step || 0, shards: d.steps });
      showInfo();
    } else if (ev.type === 'step' && job) {
      job.progress = { epoch: d.epoch, epochs: d.epochs, step: d.step, steps: d.steps, loss: d.loss, accuracy: d.accuracy };
      showInfo();
    } else if (ev.type === 'features' && d.features) {
      // One features event per split: the stage times are their sums.
      const f = d.features;
      for (const k of ['samples', 'cache_hits', 'hash_seconds', 'decode_seconds', 'backbone_seconds']) extracted[k] = (extracted[k] || 0) + (f[k] || 0);
      if (!job || !job.summary) showTimings(extracted, null);
    } else if (!TRAINING.has(ev.type)) {
      refreshJob().catch(fail); // the daemon's own events change the job's state
    }
  };

  // stream reads the SSE stream with fetch (EventSource cannot send the
  // token header) and reconnects after the last event seen until the job
  // is final.
  const stream = async () => {
    for (;;) {
      try {
        const res = await api(`/v1/jobs/${encodeURIComponent(id)}/events`, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': String(lastSeq) } });
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const arrived = performance.now();
          buf += dec.decode(value, { stream: true });
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
            if (data) onEvent(JSON.parse(data), arrived);
          }
        }
      } catch (e) {
        // A dropped connection or a busy daemon (503): resume after the
        // last event seen. A missing token or leaving the view ends it.
        if (e instanceof AuthError || e.name === 'AbortError') throw e;
        status(`event stream: ${e.message}; reconnecting`, true);
        await new Promise((r) => setTimeout(r, 5000));
        continue;
      }
      await refreshJob();
      if (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    await refreshLog();
  };

  refreshJob().then(() => stream()).catch(fail);
  every(2000, async () => { if (!job || !['succeeded', 'failed', 'cancelled'].includes(job.state)) await refreshLog(); });
}

// ---- the model view ----

function modelView(main, name) {
  const top = el('ol', { id: 'top' });
  const preview = el('img', { id: 'preview', alt: '', hidden: true });
  const input = el('input', { id: 'file', type: 'file', accept: 'image/png,image/jpeg' });
  const drop = el('div', { id: 'drop' }, 'Drop a PNG or JPEG image here, or ', input, el('br'), preview);
  const info = el('div');
  main.append(el('section', {}, el('h1', {}, 'Model ', name), info), el('section', {}, el('h2', {}, 'Predict'), drop, el('h2', {}, 'Top classes'), top));
  let model = null;
  getJSON('/v1/models/' + encodeURIComponent(name)).then((m) => {
    model = m;
    info.replaceChildren(el('p', {}, `version ${m.version}, ${m.classes.length} classes: ${m.classes.join(', ')}; trained by job `,
      el('a', { href: '#/jobs/' + encodeURIComponent(m.job_id) }, m.job_id), ' ',
      deleteButton('delete-version', 'Delete this version', () => versionQuestion(m), versionPath(m), () => { location.hash = '#/'; })));
  }).catch(fail);

  const predict = async (file) => {
    if (!file) return;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    const b64 = await new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
    top.replaceChildren(el('li', { class: 'muted' }, 'predicting…'));
    try {
      const res = await api(`/v1/models/${encodeURIComponent(name)}:predict`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ instances: [{ b64 }] }),
      });
      const probs = (await res.json()).predictions[0];
      const classes = model ? model.classes : probs.map((_, i) => String(i));
      const ranked = probs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 5);
      top.replaceChildren(...ranked.map(([p, i]) => el('li', { 'data-class': classes[i], 'data-score': p }, `${classes[i]}: ${fmt(p)}`)));
      top.dataset.file = file.name;
    } catch (e) {
      top.replaceChildren(el('li', { class: 'error' }, e.message));
      fail(e);
    }
  };
  input.addEventListener('change', () => predict(input.files[0]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    predict(e.dataTransfer.files[0]);
  });
}

// ---- routing ----

function route() {
  page.abort.abort();
  page.timers.forEach(clearInterval);
  page = { abort: new AbortController(), timers: [] };
  status('');
  const main = document.getElementById('view');
  main.replaceChildren();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'jobs' && parts[1]) jobView(main, parts[1]);
  else if (parts[0] === 'models' && parts[1]) modelView(main, parts[1]);
  else jobsView(main);
}

document.getElementById('login').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
  document.getElementById('token').value = '';
  e.target.hidden = true;
  route();
});
window.addEventListener('hashchange', route);
route();
