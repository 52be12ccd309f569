// The dashboard (graft serve's /ui) in a real headless Chromium (Debian's,
// driven by playwright-core) against a real graft serve with a token, a
// real training job on MNIST digits written as PNG by testdata/gen, and the
// graft CLI as the oracle: graft eval for the confusion matrix, graft
// predict for a dropped image's class. Screenshots go to build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const GRAFT = process.env.GRAFT_BIN || path.join(REPO, 'bin', 'graft');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOT_DIR || path.join(REPO, 'build', 'screenshots');
const TOKEN = randomBytes(16).toString('hex');
const EPOCHS = 12;

let work, daemon, base, browser, page;
const requests = []; // every request the page made: [url, authorization header]
const consoleErrors = [];
const pageErrors = [];
let job; // the submitted job, as POST /v1/jobs answered
const shots = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(p, opts = {}) {
  const res = await fetch(base + p, { ...opts, headers: { Authorization: `Bearer ${TOKEN}`, ...opts.headers } });
  const body = await res.text();
  if (!res.ok) throw new Error(`${opts.method || 'GET'} ${p}: ${res.status} ${body}`);
  return JSON.parse(body);
}

function genImages(out, split, perClass) {
  execFileSync('go', ['run', './testdata/gen', 'images', '-split', split, '-per-class', String(perClass), '-out', out], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

async function shot(name) {
  const p = path.join(SHOTS, name);
  await page.screenshot({ path: p, fullPage: true });
  shots.push(p);
  console.log(`screenshot: ${p}`);
}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'graft-ui-'));
  mkdirSync(SHOTS, { recursive: true });
  genImages(path.join(work, 'digits'), 'train', 100);
  genImages(path.join(work, 'test'), 't10k', 1);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = openSync(path.join(work, 'serve.log'), 'a');
  daemon = spawn(GRAFT, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'data'),
    '--allow-root', path.join(REPO, 'testdata'), '--allow-root', path.join(work, 'digits'), '--log-format', 'json', '--log-level', 'warn',
    // At least 0.75 s an epoch (25 steps) on any machine, so that the page
    // sees the job train.
    '--worker-step-delay', '30ms'],
  { env: { ...process.env, GRAFT_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', log] });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + '/readyz')).ok) break;
    } catch { /* not listening yet */ }
    if (daemon.exitCode !== null || i > 600) throw new Error(`graft serve did not start: ${readFileSync(path.join(work, 'serve.log'), 'utf8').slice(-2000)}`);
    await sleep(50);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('request', (r) => requests.push([r.url(), r.headers().authorization || '']));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
});

after(async () => {
  await browser?.close();
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
  if (work && !process.env.KEEP_WORK) rmSync(work, { recursive: true, force: true });
  console.log(`screenshots:\n  ${shots.join('\n  ')}`);
});

test('the page is served with a strict CSP and asks for the token once', async () => {
  const res = await page.goto(base + '/ui');
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#token', 'wrong-' + TOKEN);
  await page.click('#login button');
  await page.locator('#login-error', { hasText: 'refused' }).waitFor();
  await page.fill('#token', TOKEN);
  await page.click('#login button');
  await page.locator('#login').waitFor({ state: 'hidden' });
  await page.locator('#jobs').waitFor();
  await page.reload(); // the token stays for the tab's session
  await page.locator('#jobs tbody tr').first().waitFor();
  assert.equal(await page.locator('#login').isVisible(), false);
});

test('the list shows a submitted job', async () => {
  job = await call('/v1/jobs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ backbone: path.join(REPO, 'testdata/models/fashion_cnn'), tap: 'conv2d_2', data: path.join(work, 'digits'),
      preprocess: 'unit', head: 'conv:128', epochs: EPOCHS, schedule: 'cosine', seed: 1, model: 'digits-ui' }),
  });
  const row = page.locator(`#jobs tr[data-job-id="${job.id}"]`);
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.innerText(), /digits-ui/);
  // Its progress bar appears once it trains (the daemon's job progress).
  await row.locator('progress').waitFor({ timeout: 120_000 });
  assert.equal(await row.getAttribute('data-state'), 'running');
  assert.match(await row.innerText(), new RegExp(`epoch \\d+/${EPOCHS}`));
  await shot('jobs.png');
});

test('the curves gain points while the job trains', async () => {
  const opened = Date.now();
  await page.click(`#jobs a[href="#/jobs/${job.id}"]`);
  const loss = page.locator('#chart-loss');
  await page.waitForFunction(() => Number(document.getElementById('chart-loss')?.dataset.points) >= 2, null, { timeout: 120_000 });
  const first = Number(await loss.getAttribute('data-points'));
  const state = (await call(`/v1/jobs/${job.id}`)).state;
  assert.equal(state, 'running', `the job was ${state} when the page showed ${first} epochs: it must still train to see the curves grow`);
  assert.ok(first < EPOCHS, `${first} of ${EPOCHS} epochs shown while running`);
  await shot('job-running.png');
  await page.waitForFunction((n) => Number(document.getElementById('chart-loss').dataset.points) > n, first, { timeout: 120_000 });
  // Each series draws one circle per epoch: the SVG itself grew.
  assert.ok(await page.locator('#chart-loss circle.s1').count() > first);
  await page.locator('#job-state[data-state="succeeded"]').waitFor({ timeout: 180_000 });
  await page.waitForFunction((n) => Number(document.getElementById('chart-accuracy').dataset.points) === n, EPOCHS);
  for (const id of ['chart-loss', 'chart-accuracy', 'chart-lr']) {
    assert.equal(Number(await page.locator('#' + id).getAttribute('data-points')), EPOCHS, id);
  }
  // The curves' values are the run's metrics.jsonl, epoch by epoch.
  const metrics = readFileSync(path.join(job.run_dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const rows = await page.locator('#epochs tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, metrics.length);
  metrics.forEach((m, i) => {
    assert.equal(Number(rows[i][0]), m.epoch);
    assert.equal(rows[i][4], m.val_accuracy.toFixed(4));
    assert.equal(rows[i][1], m.loss.toFixed(4));
  });
  // Measured, not asserted (no timing assertions): printed for the record.
  const timed = await page.evaluate(() => window.graftUI.epochToCurve);
  assert.deepEqual(timed.map((e) => e.epoch).sort((a, b) => a - b), metrics.map((m) => m.epoch), 'every epoch event timed once');
  // Live events only: those the daemon recorded after the page opened the job.
  const live = timed.filter((e) => e.recorded >= opened);
  assert.ok(live.length >= EPOCHS / 2, `${live.length} live epoch events`);
  const stats = (ms) => {
    const s = [...ms].sort((a, b) => a - b);
    return `median ${s[s.length >> 1].toFixed(1)} ms, max ${s.at(-1).toFixed(1)} ms`;
  };
  // The yardstick, same page and run: from a moment to the next frame
  // with nothing to draw.
  const idle = await page.evaluate(async () => {
    const out = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      await new Promise((r) => requestAnimationFrame(r));
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 37));
    }
    return out;
  });
  console.log(`epoch event to curve, ${live.length} live events: from arrival at the page ${stats(live.map((e) => e.fromArrival))}; ` +
    `from the daemon recording it ${stats(live.map((e) => e.fromRecorded))}; yardstick, an idle frame: ${stats(idle)}`);
});

test('the confusion matrix and per-class metrics match graft eval', async () => {
  await page.locator('#confusion').waitFor({ timeout: 60_000 });
  const shown = await page.locator('#confusion tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => Number(td.textContent))));
  const cli = JSON.parse(execFileSync(GRAFT, ['eval', '--run', job.run_dir, '--split', 'val', '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  assert.deepEqual(shown, cli.confusion);
  const perClass = await page.locator('#per-class tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(perClass, cli.classes.map((c) => [c.name, c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), String(c.support)]));
  const summary = JSON.parse(readFileSync(path.join(job.run_dir, 'summary.json'), 'utf8'));
  assert.match(await page.locator('#evaluation h2').first().innerText(), new RegExp(`Best epoch \\(${summary.best_epoch}, by ${summary.monitor}\\)`));
  for (const stage of ['decode', 'backbone', 'head (training)']) await page.locator(`#timings tr[data-stage="${stage}"]`).waitFor();
  // The log shown is the end of the worker's log file, last line included.
  const logFile = readFileSync(path.join(work, 'data', 'logs', `${job.id}.log`), 'utf8');
  const lastLine = logFile.trimEnd().split('\n').at(-1);
  await page.waitForFunction((l) => document.getElementById('log').textContent.trimEnd().endsWith(l), lastLine);
  const shownLog = await page.locator('#log').textContent();
  assert.ok(shownLog.length > 0 && logFile.endsWith(shownLog), 'the page shows the end of the job log');
  await shot('job-done.png');
});

test('a dropped image gets the class graft predict gives', async () => {
  const run = job.run_dir;
  const imgs = readdirSync(path.join(work, 'test'), { recursive: true }).filter((f) => f.endsWith('.png')).map((f) => path.join(work, 'test', f)).sort();
  const cliTop = (img) => JSON.parse(execFileSync(GRAFT, ['predict', '--run', run, img, '--format', 'jsonl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()).top;
  await page.click('#model-link');
  await page.locator('#drop').waitFor();
  // A drop: a DataTransfer holding the file's bytes, as a drag from the desktop.
  const dropped = imgs[3];
  const dt = await page.evaluateHandle(({ b64, name }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const d = new DataTransfer();
    d.items.add(new File([bytes], name, { type: 'image/png' }));
    return d;
  }, { b64: readFileSync(dropped).toString('base64'), name: path.basename(dropped) });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  await page.locator(`#top[data-file="${path.basename(dropped)}"] li`).first().waitFor();
  const want = cliTop(dropped);
  const got = await page.locator('#top li').evaluateAll((lis) => lis.map((li) => [li.dataset.class, Number(li.dataset.score)]));
  assert.equal(got[0][0], want[0].label, `page top class ${got[0][0]}, graft predict ${want[0].label}`);
  assert.ok(Math.abs(got[0][1] - want[0].score) < 1e-4, `score ${got[0][1]} vs graft predict ${want[0].score}`);
  await shot('model.png');
  // The file picker too, with another digit.
  const picked = imgs[7];
  await page.setInputFiles('#file', picked);
  await page.locator(`#top[data-file="${path.basename(picked)}"] li`).first().waitFor();
  assert.equal(await page.locator('#top li').first().getAttribute('data-class'), cliTop(picked)[0].label);
});

test('the delete buttons ask first, and delete only once confirmed', async () => {
  const status = async (p) => (await fetch(base + p, { headers: { Authorization: `Bearer ${TOKEN}` } })).status;
  const versionPath = `/v1/models/${encodeURIComponent(job.model)}/versions/1`;
  // Dismissed: nothing goes.
  page.once('dialog', (d) => d.dismiss());
  await page.click('#delete-version');
  assert.equal(await status(versionPath.replace('/versions/1', '')), 200);
  // Accepted: the version goes, and the page returns to the list.
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.accept(); });
  await page.click('#delete-version');
  await page.waitForFunction(() => location.hash === '#/');
  assert.match(asked, /version 1/);
  assert.equal(await status(`/v1/models/${encodeURIComponent(job.model)}`), 404);
  // The job, from its page: its run directory goes with it.
  await page.goto(`${base}/ui#/jobs/${encodeURIComponent(job.id)}`);
  await page.locator('#job-state').waitFor();
  page.once('dialog', (d) => d.accept());
  await page.click('#delete-job');
  await page.waitForFunction(() => location.hash === '#/');
  assert.equal(await status(`/v1/jobs/${encodeURIComponent(job.id)}`), 404);
  assert.ok(!existsSync(job.run_dir), `${job.run_dir} is still on disk`);
});

test('the token never appears in a URL, every API call carries it, and the CSP held', () => {
  const apiCalls = requests.filter(([u]) => new URL(u).pathname.startsWith('/v1/'));
  assert.ok(apiCalls.length > 5);
  for (const [u, auth] of requests) assert.ok(!u.includes(TOKEN), `token in URL ${u}`);
  const withToken = apiCalls.filter(([, a]) => a === `Bearer ${TOKEN}`);
  const wrong = apiCalls.filter(([, a]) => a !== `Bearer ${TOKEN}`);
  // Only the calls before the right token was entered lack it.
  assert.ok(withToken.length > 5);
  assert.ok(wrong.every(([, a]) => a === '' || a === `Bearer wrong-${TOKEN}`), `API calls with another header: ${wrong.map((w) => w[1])}`);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), []);
});
