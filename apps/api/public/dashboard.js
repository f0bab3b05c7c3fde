// The dashboard's script (a module: strict, deferred), served as a file so the page's CSP
// needs no 'unsafe-inline'. Statuses and event types come from @x/protocol, served by the api
// as /protocol.js: the one definition the api and its clients read.
import { LIVE_STATUSES, RUN_EVENT_TYPES, TERMINAL_STATUSES } from './protocol.js';

const API = '/api/v1';
const MAX_ROWS = 1000; // results rendered; the rest stay in the API (GET /runs/:id/results)
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem('x.token') || '';
let view = null; // teardown of the current page

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const c of children)
    node.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return node;
}
function badge(status) {
  return el('span', { className: `status s-${status}` }, status);
}

async function api(path, opts = {}) {
  const headers = { authorization: `Bearer ${token}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(API + path, {
    method: opts.method || 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401) {
    signOut('That token was refused.');
    throw new Error('unauthorized');
  }
  if (!res.ok) throw new Error(body?.error?.message || `HTTP ${res.status}`);
  return body;
}

function signOut(message) {
  token = '';
  localStorage.removeItem('x.token');
  $('login-error').textContent = message || '';
  route();
}

function show(id) {
  for (const s of ['login', 'home', 'run']) $(s).hidden = s !== id;
  $('sign-out').hidden = !token;
}

function route() {
  if (view) {
    view();
    view = null;
  }
  if (!token) {
    show('login');
    return;
  }
  const m = /^#\/runs\/([0-9a-f-]{36})$/i.exec(location.hash);
  if (m) {
    show('run');
    view = runPage(m[1]);
  } else {
    show('home');
    view = homePage();
  }
}

// ---- home: run list + new run form ----
function homePage() {
  // paged: the user loaded more than the first page; the timer then leaves the list alone
  // (a refresh shows the first page only, and would take the others away under them).
  let cursor = null,
    stopped = false,
    paged = false;
  const load = async (append) => {
    paged = append;
    try {
      const q = new URLSearchParams({ limit: '25' });
      if (append && cursor) q.set('cursor', cursor);
      const { runs, nextCursor } = await api(`/runs?${q}`);
      if (stopped) return;
      if (!append) $('runs').replaceChildren();
      for (const r of runs) {
        const tr = el(
          'tr',
          { className: 'link' },
          el('td', {}, r.name || r.id.slice(0, 8)),
          el('td', {}, badge(r.status)),
          el('td', {}, `${r.passed + r.failed}/${r.total}`),
          el('td', {}, `${r.shardsCompleted}/${r.shardCount}`),
          el('td', { className: 'muted' }, new Date(r.createdAt).toLocaleString()),
        );
        tr.dataset.runId = r.id;
        tr.onclick = () => {
          location.hash = `#/runs/${r.id}`;
        };
        $('runs').append(tr);
      }
      cursor = nextCursor;
      $('more').hidden = !nextCursor;
      $('runs-error').textContent = '';
    } catch (e) {
      if (!stopped) $('runs-error').textContent = e.message;
    }
  };
  $('refresh').onclick = () => load(false);
  $('more').onclick = () => load(true);
  load(false);
  const timer = setInterval(() => {
    if (!document.hidden && !paged) load(false);
  }, 5000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

$('new-run').onsubmit = async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const n = Number(f.get('tests')),
    min = Number(f.get('minMs')),
    max = Math.max(min, Number(f.get('maxMs')));
  const rate = Number(f.get('failRate')) / 100;
  const tests = Array.from({ length: n }, (_, i) => ({
    name: `test-${String(i + 1).padStart(4, '0')}`,
    durationMs: Math.round(min + Math.random() * (max - min)),
    outcome: Math.random() < rate ? 'fail' : 'pass',
  }));
  const body = { executor: 'demo', tests, shards: Math.min(Number(f.get('shards')), n) };
  if (f.get('name')) body.name = String(f.get('name'));
  try {
    const { run } = await api('/runs', { method: 'POST', body });
    $('new-run-error').textContent = '';
    location.hash = `#/runs/${run.id}`;
  } catch (e) {
    $('new-run-error').textContent = e.message;
  }
};

// ---- run page: live over SSE, resumed with Last-Event-ID and a fresh stream token ----
function runPage(runId) {
  // closed: the stream is over (run ended or page left); left: the page itself is gone.
  let es = null,
    lastSeq = 0,
    closed = false,
    left = false,
    retryMs = 500,
    retryTimer = null,
    rows = 0;
  const shards = new Map();
  const live = new Map(); // shardIndex -> {passed, failed} from result events of its current attempt
  const state = { run: null };

  const render = () => {
    const r = state.run;
    if (!r) return;
    $('run-title').textContent = r.name || `run ${r.id.slice(0, 8)}`;
    const st = $('run-status');
    st.className = `status s-${r.status}`;
    st.textContent = r.status;
    // Stored counters move when a shard completes; results stream in before that.
    let passed = r.passed,
      failed = r.failed;
    if (!TERMINAL_STATUSES.includes(r.status)) {
      let lp = 0,
        lf = 0;
      for (const c of live.values()) {
        lp += c.passed;
        lf += c.failed;
      }
      if (lp + lf > passed + failed) {
        passed = lp;
        failed = lf;
      }
    }
    const done = passed + failed,
      pct = r.total ? Math.round((done / r.total) * 100) : 0;
    const bar = $('progress');
    bar.setAttribute('aria-valuenow', String(pct));
    bar.children[0].style.width = `${r.total ? (passed / r.total) * 100 : 0}%`;
    bar.children[1].style.width = `${r.total ? (failed / r.total) * 100 : 0}%`;
    $('run-counts').textContent =
      `${done} of ${r.total} tests · ${passed} passed · ${failed} failed · ${r.shardsCompleted}/${r.shardCount} shards${r.durationMs != null ? ` · ${r.durationMs} ms` : ''}`;
    $('run-error').textContent = r.error || '';
    $('abort').disabled = !LIVE_STATUSES.includes(r.status);
    const box = $('shards');
    box.replaceChildren();
    for (let i = 0; i < r.shardCount; i++) {
      let s = shards.get(i);
      // A shard cut short by the run's end never reports again: show why it stopped.
      if (
        ['aborted', 'failed'].includes(r.status) &&
        (!s || ['started', 'retrying'].includes(s.state))
      )
        s = { state: r.status === 'aborted' ? 'aborted' : 'skipped', attempt: s ? s.attempt : 0 };
      // A completed run's shards all completed, whether or not their events are still known.
      if (r.status === 'completed') s = { state: 'completed', attempt: s ? s.attempt : 0 };
      const label = s ? `${s.state}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}` : 'queued';
      box.append(
        el(
          'span',
          { className: 'shard' },
          `shard ${i}: `,
          badge(label.split(' ')[0]),
          label.includes('(') ? ` ${label.slice(label.indexOf('('))}` : '',
        ),
      );
    }
  };
  const seen = new Set();
  const addResult = (x) => {
    const key = `${x.shardIndex}:${x.testId}`;
    if (seen.has(key)) return; // a result can arrive both live and in the initial page
    seen.add(key);
    rows++;
    $('results-count').textContent = `(${rows})`;
    if (rows > MAX_ROWS) return;
    $('results').append(
      el(
        'tr',
        {},
        el('td', {}, x.shardIndex),
        el('td', {}, x.name),
        el('td', {}, badge(x.status)),
        el('td', {}, x.durationMs),
        el('td', { className: 'error' }, x.error || ''),
      ),
    );
  };
  const resetResults = async () => {
    rows = 0;
    seen.clear();
    $('results').replaceChildren();
    $('results-count').textContent = '(0)';
    // A fresh snapshot (first connect, or history gone): load what already landed.
    let cursor = null;
    do {
      const q = new URLSearchParams({ limit: '1000' });
      if (cursor) q.set('cursor', cursor);
      const page = await api(`/runs/${runId}/results?${q}`);
      if (left) return;
      for (const x of page.results) addResult(x);
      cursor = rows < MAX_ROWS ? page.nextCursor : null;
    } while (cursor);
  };
  const conn = (text) => {
    $('conn').textContent = text;
  };

  const handle = (msg, seq) => {
    if (seq !== null) {
      if (seq <= lastSeq) return;
      lastSeq = seq;
    }
    const r = state.run;
    switch (msg.type) {
      case 'snapshot':
        state.run = msg.run;
        // We always resume (from 0 on the first connect): only a lost history needs a reload.
        if (msg.recovered === false) {
          shards.clear();
          live.clear();
          resetResults().catch((e) => conn(e.message));
        }
        break;
      case 'status':
        if (r) r.status = msg.status;
        break;
      case 'shard':
        shards.set(msg.shardIndex, { state: msg.state, attempt: msg.attempt });
        if (msg.state === 'started') live.delete(msg.shardIndex); // a retry starts its count over
        break;
      case 'result': {
        const c = live.get(msg.shardIndex) || { passed: 0, failed: 0 };
        if (msg.status === 'passed') c.passed++;
        else if (msg.status === 'failed') c.failed++;
        live.set(msg.shardIndex, c);
        addResult(msg);
        break;
      }
      case 'progress':
        if (r)
          Object.assign(r, {
            passed: msg.passed,
            failed: msg.failed,
            total: msg.total,
            shardsCompleted: msg.shardsCompleted,
            shardCount: msg.shardCount,
          });
        break;
      case 'done':
        if (r)
          Object.assign(r, {
            status: msg.status,
            passed: msg.passed,
            failed: msg.failed,
            total: msg.total,
            durationMs: msg.durationMs,
          });
        finish();
        break;
    }
    render();
  };
  const finish = () => {
    closed = true;
    if (es) es.close();
    es = null;
    conn('');
    api(`/runs/${runId}`)
      .then(async ({ run }) => {
        if (left) return;
        state.run = run;
        render();
        if (run.status === 'completed') return;
        // Results land with their shard's completion: a shard the abort or failure stopped
        // showed results live that were never recorded. Show what a reload would show.
        const shown = rows;
        await resetResults();
        const lost = shown - rows;
        if (!left && lost > 0)
          $('results-note').textContent =
            `${lost} live result${lost === 1 ? ' was' : 's were'} from shards that were stopped, and not recorded.`;
      })
      .catch((e) => {
        if (!left) $('run-error').textContent = e.message;
      });
  };

  const connect = async () => {
    if (closed) return;
    try {
      // EventSource cannot send headers: trade the bearer token for a short stream token,
      // a fresh one on every (re)connect since it expires within minutes.
      const { token: st } = await api(`/runs/${runId}/stream-token`, { method: 'POST' });
      if (closed) return;
      // lastEventId=0 on the first connect replays the run's history: shards that started
      // before this page opened, results so far. Then every reconnect resumes where it left.
      const q = new URLSearchParams({ st, lastEventId: String(lastSeq) });
      es = new EventSource(`${API}/runs/${runId}/events?${q}`);
      const onFrame = (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        retryMs = 500;
        conn('live');
        handle(msg, ev.lastEventId ? Number(ev.lastEventId) : null);
      };
      es.onmessage = onFrame;
      for (const t of RUN_EVENT_TYPES) es.addEventListener(t, onFrame);
      es.onerror = () => {
        if (closed) return;
        es.close();
        es = null;
        conn('reconnecting…');
        retryTimer = setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 5000);
      };
    } catch (e) {
      if (closed) return;
      conn(`reconnecting… (${e.message})`);
      retryTimer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    }
  };

  $('abort').onclick = async () => {
    $('abort').disabled = true;
    try {
      const { run } = await api(`/runs/${runId}/abort`, { method: 'POST' });
      state.run = run;
      render();
    } catch (e) {
      $('run-error').textContent = e.message;
      render();
    }
  };
  // Nothing of the previous run page may show while this one loads.
  $('results').replaceChildren();
  $('shards').replaceChildren();
  $('results-count').textContent = '';
  $('results-note').textContent = '';
  $('run-status').className = 'status';
  $('run-status').textContent = '';
  $('run-counts').textContent = '';
  $('run-error').textContent = '';
  $('abort').disabled = true;
  $('progress').setAttribute('aria-valuenow', '0');
  for (const part of $('progress').children) part.style.width = '0%';
  $('run-title').textContent = 'loading…';
  conn('connecting…');
  connect();
  return () => {
    closed = left = true;
    clearTimeout(retryTimer);
    if (es) es.close();
  };
}

$('login-form').onsubmit = async (ev) => {
  ev.preventDefault();
  token = $('token-input').value.trim();
  $('token-input').value = '';
  try {
    await api('/runs?limit=1');
    localStorage.setItem('x.token', token);
    $('login-error').textContent = '';
    route();
  } catch (e) {
    if (token) $('login-error').textContent = e.message;
  }
};
$('sign-out').onclick = () => signOut('');
window.addEventListener('hashchange', route);
route();
