// The dashboard's script (a module: strict, deferred), served as a file so the page's CSP
// needs no 'unsafe-inline'. Every call goes through @x/client, bundled by the api as
// /client.js: the same client users get (stream tokens, resume, no duplicate events). Statuses
// come from @x/protocol, served as /protocol.js.
import { createClient, XClientError } from './client.js';
import { LIVE_STATUSES, TERMINAL_STATUSES } from './protocol.js';

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
/** Why a queued run has not started (`waitingFor`, from the store at read time); '' when none. */
const WAIT_REASONS = { workspace_share: 'waiting for its workspace share' };
function waitNote(r) {
  return r.status === 'queued' && r.waitingFor ? WAIT_REASONS[r.waitingFor] || r.waitingFor : '';
}
function statusCell(r) {
  const note = waitNote(r);
  return note
    ? [badge(r.status), ' ', el('span', { className: 'muted wait-reason' }, note)]
    : [badge(r.status)];
}
function tagChips(tags) {
  return (tags || []).map((t) => el('span', { className: 'tag' }, t));
}

/**
 * The client of the saved token. `onRequest` sees every request it sends: the run page shows
 * "reconnecting…" when the watch opens another event stream.
 */
let onRequest = () => {};
const client = () =>
  createClient({
    baseUrl: location.origin,
    token,
    fetch: (url, init) => {
      onRequest(url);
      return fetch(url, init);
    },
  });

/** Runs `call` with the client; a refused token signs out. Errors keep the API's message. */
async function api(call) {
  try {
    return await call(client());
  } catch (e) {
    if (e instanceof XClientError && e.code === 'unauthorized') signOut('That token was refused.');
    throw e;
  }
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
const PAGE = 25;

/**
 * Pages of `runs.list` (which follows the cursors itself): `next()` answers the next PAGE runs
 * and whether more follow (it reads one run ahead, so "Load more" shows only when there are).
 */
function runPages(tags) {
  const runs = client().runs.list({ limit: PAGE, tags })[Symbol.asyncIterator]();
  let ahead = null;
  return {
    async next() {
      const page = ahead ? [ahead] : [];
      ahead = null;
      while (page.length < PAGE) {
        const r = await runs.next();
        if (r.done) return { runs: page, more: false };
        page.push(r.value);
      }
      const peek = await runs.next();
      if (!peek.done) ahead = peek.value;
      return { runs: page, more: !peek.done };
    },
    close: () => runs.return?.(),
  };
}

const RANK = { queued: 0, running: 1, completed: 2, failed: 2, aborted: 2 };
/**
 * A feed frame's run merged into what the list shows. Frames of one run can come from several
 * processes (and `created` after a worker already started it): a status never goes back, and
 * nothing moves a finished run but its `done`.
 */
function mergeRun(old, change, run) {
  if (!old) return change === 'created' ? run : null;
  if (RANK[old.status] === 2 && change !== 'done') return old;
  const next = { ...old, ...run };
  if (run.status && RANK[run.status] < RANK[old.status]) next.status = old.status;
  // A frame past `queued` means the run was released: the stored wait reason is stale.
  if (next.status !== 'queued') next.waitingFor = null;
  if (change === 'progress' || change === 'done') {
    next.passed = run.passed ?? old.passed;
    next.failed = run.failed ?? old.failed;
  }
  if (change === 'done' && run.status === 'completed') next.shardsCompleted = next.shardCount;
  return next;
}

function runRow(r) {
  const tr = el(
    'tr',
    { className: 'link' },
    el('td', {}, r.name || r.id.slice(0, 8)),
    el('td', { className: 'tags' }, ...tagChips(r.tags)),
    el('td', {}, ...statusCell(r)),
    el('td', {}, `${(r.passed ?? 0) + (r.failed ?? 0)}/${r.total}`),
    el('td', {}, `${r.shardsCompleted ?? 0}/${r.shardCount}`),
    el('td', { className: 'muted' }, new Date(r.createdAt).toLocaleString()),
  );
  tr.dataset.runId = r.id;
  tr.dataset.status = r.status;
  tr.onclick = () => {
    location.hash = `#/runs/${r.id}`;
  };
  return tr;
}

/** The tags of the list's filter box: space or comma separated. */
const filterTags = () =>
  $('tag-filter')
    .value.split(/[\s,]+/)
    .filter(Boolean);

/**
 * The run list: one page from `runs.list`, then kept live by the workspace feed
 * (`GET /events`, no polling): a `run` frame updates its row, a new run is added on top. The
 * feed carries the same tag filter. A feed that could not resume (`recovered` not true) reloads
 * the first page; a feed token expires after 5 minutes, so a closed feed is opened again with a
 * fresh one, after the last frame it delivered.
 */
function homePage() {
  let pages = null,
    stopped = false,
    feed = null,
    lastId = null,
    retry = null;
  const shown = new Map(); // run id -> run as the list shows it
  const tags = filterTags();
  const load = async (append) => {
    try {
      if (!append || !pages) {
        pages?.close();
        pages = runPages(tags);
      }
      const mine = pages;
      const { runs, more } = await api(() => mine.next());
      if (stopped || mine !== pages) return;
      const before = append ? shown : new Map(shown);
      if (!append) {
        $('runs').replaceChildren();
        shown.clear();
      }
      for (const r of runs) {
        // A frame may have arrived for it while the page loaded: keep the newer state.
        const seen = before.get(r.id);
        const merged = seen ? mergeRun(r, 'status', seen) : r;
        shown.set(r.id, merged);
        $('runs').append(runRow(merged));
      }
      $('more').hidden = !more;
      $('runs-error').textContent = '';
    } catch (e) {
      if (!stopped) $('runs-error').textContent = e.message;
    }
  };
  const apply = (frame) => {
    const { change, run } = frame;
    const merged = mergeRun(shown.get(run.id), change, run);
    // A change of a run the list does not hold (an older page): nothing to show.
    if (!merged) return;
    shown.set(run.id, merged);
    const row = runRow(merged);
    const old = $('runs').querySelector(`tr[data-run-id="${run.id}"]`);
    if (old) old.replaceWith(row);
    else $('runs').prepend(row);
  };
  const openFeed = async () => {
    if (stopped) return;
    try {
      const res = await fetch('/api/v1/events/stream-token', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.status === 401) return signOut('That token was refused.');
      if (!res.ok) throw new Error(`feed token: HTTP ${res.status}`);
      const { token: st } = await res.json();
      if (stopped) return;
      const q = new URLSearchParams({ st });
      for (const t of tags) q.append('tag', t);
      if (lastId) q.set('lastEventId', lastId);
      feed = new EventSource(`/api/v1/events?${q}`);
      $('feed').textContent = 'connecting…';
      feed.onmessage = (m) => {
        const frame = JSON.parse(m.data);
        if (m.lastEventId) lastId = m.lastEventId;
        if (frame.type === 'snapshot') {
          $('feed').textContent = 'live';
          if (frame.recovered !== true) load(false);
        } else if (frame.type === 'run') apply(frame);
      };
      feed.onerror = () => {
        if (stopped) return;
        $('feed').textContent = 'reconnecting…';
        // EventSource retries a dropped stream itself; a refused one (an expired token) closes.
        if (feed.readyState === EventSource.CLOSED) {
          feed = null;
          retry = setTimeout(openFeed, 1000);
        }
      };
    } catch (e) {
      // The api is unreachable (or restarting): say why and try again.
      $('feed').textContent = `reconnecting… (${e.message})`;
      retry = setTimeout(openFeed, 2000);
    }
  };
  $('refresh').onclick = () => load(false);
  $('more').onclick = () => load(true);
  $('tag-form').onsubmit = (ev) => {
    ev.preventDefault();
    route();
  };
  openFeed();
  return () => {
    stopped = true;
    clearTimeout(retry);
    feed?.close();
    pages?.close();
  };
}

$('new-run').onsubmit = async (ev) => {
  ev.preventDefault();
  // One key per submission: a retried request starts one run. (getRandomValues, unlike
  // randomUUID, works on a page served over plain http from another host.)
  const submission = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
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
  const tags = String(f.get('tags') || '')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (tags.length) body.tags = [...new Set(tags)];
  try {
    const run = await api((x) => x.runs.create(body, { idempotencyKey: submission }));
    $('new-run-error').textContent = '';
    location.hash = `#/runs/${run.id}`;
  } catch (e) {
    $('new-run-error').textContent = e.message;
  }
};

// ---- run page: live through runs.watch (stream tokens, resume, no duplicates: the client's) ----
function runPage(runId) {
  // left: the page is gone (its watch is aborted); rows: results counted so far.
  let left = false,
    rows = 0,
    streams = 0;
  const leave = new AbortController();
  const shards = new Map();
  const live = new Map(); // shardIndex -> {passed, failed} from result events of its current attempt
  const startedAttempt = new Map(); // shardIndex -> attempt of its latest `shard started`
  const state = { run: null };

  const render = () => {
    const r = state.run;
    if (!r) return;
    $('run-title').textContent = r.name || `run ${r.id.slice(0, 8)}`;
    $('run-tags').replaceChildren(...tagChips(r.tags));
    const meta = r.metadata && Object.keys(r.metadata).length ? r.metadata : null;
    $('run-metadata-box').hidden = !meta;
    $('run-metadata').textContent = meta ? JSON.stringify(meta, null, 2) : '';
    const st = $('run-status');
    st.className = `status s-${r.status}`;
    st.textContent = r.status;
    st.title = waitNote(r);
    const wait = $('run-wait');
    if (wait) wait.textContent = waitNote(r);
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
  const seen = new Map(); // shardIndex:testId -> its row (undefined past MAX_ROWS)
  let repeats = 0;
  const cells = (x) => [
    el('td', {}, x.shardIndex),
    el('td', {}, x.name),
    el('td', {}, badge(x.status)),
    el('td', {}, x.durationMs),
    el('td', { className: 'error' }, x.error || ''),
  ];
  const addResult = (x) => {
    const key = `${x.shardIndex}:${x.testId}`;
    if (seen.has(key)) {
      // A result can arrive both live and in a reload of the stored ones, or again in a
      // shard's retry: the later one is the current one (a retry's outcome replaces the
      // failed attempt's). Counted where a test can read it: a stream that resumed cleanly
      // repeats none.
      $('results').dataset.repeats = String(++repeats);
      seen.get(key)?.replaceChildren(...cells(x));
      return;
    }
    rows++;
    $('results-count').textContent = `(${rows})`;
    if (rows > MAX_ROWS) {
      seen.set(key, undefined);
      return;
    }
    const row = el('tr', {}, ...cells(x));
    seen.set(key, row);
    $('results').append(row);
  };
  const resetResults = async () => {
    rows = 0;
    seen.clear();
    $('results').replaceChildren();
    $('results-count').textContent = '(0)';
    // Events were missed (history gone) or the run ended: load what the store holds.
    for await (const x of client().runs.results(runId, { limit: 1000, signal: leave.signal })) {
      if (left) return;
      addResult(x);
      if (rows >= MAX_ROWS) break;
    }
  };
  const conn = (text) => {
    $('conn').textContent = text;
  };

  const handle = (msg) => {
    const r = state.run;
    switch (msg.type) {
      case 'snapshot':
        state.run = msg.run;
        conn('live');
        // The watch resumes after the last event it yielded: only a lost history needs a reload.
        if (msg.recovered === false) {
          shards.clear();
          live.clear();
          startedAttempt.clear();
          resetResults().catch((e) => conn(e.message));
        }
        break;
      case 'status':
        if (r) r.status = msg.status;
        break;
      case 'shard':
        shards.set(msg.shardIndex, { state: msg.state, attempt: msg.attempt });
        if (msg.state === 'started') {
          live.delete(msg.shardIndex); // a retry starts its count over
          startedAttempt.set(msg.shardIndex, msg.attempt);
        }
        break;
      case 'result': {
        // A result of an earlier attempt than the shard's latest start: a worker whose shard
        // was taken over flushed it late. The new attempt reports that test again.
        if (
          typeof msg.attempt === 'number' &&
          msg.attempt < (startedAttempt.get(msg.shardIndex) ?? 0)
        )
          break;
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
        break;
    }
    render();
  };
  const finish = async () => {
    conn('');
    const run = await api((x) => x.runs.get(runId, { signal: leave.signal }));
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
  };

  const watch = async () => {
    // A second event stream is the watch reconnecting (the api restarted, the network dropped):
    // say so until its snapshot arrives.
    onRequest = (url) => {
      if (!left && url.includes(`/runs/${runId}/events`) && ++streams > 1) conn('reconnecting…');
    };
    try {
      // From the start of the run's history: shards that started before this page opened,
      // results so far; then live, until `done`.
      for await (const event of client().runs.watch(runId, { signal: leave.signal })) {
        handle(event);
      }
      if (!left) await finish();
    } catch (e) {
      if (left) return;
      if (e instanceof XClientError && e.code === 'unauthorized')
        signOut('That token was refused.');
      else $('run-error').textContent = e.message;
    }
  };

  $('abort').onclick = async () => {
    $('abort').disabled = true;
    try {
      state.run = await api((x) => x.runs.abort(runId));
      render();
    } catch (e) {
      $('run-error').textContent = e.message;
      render();
    }
  };
  // Nothing of the previous run page may show while this one loads.
  $('results').replaceChildren();
  $('results').dataset.repeats = '0';
  $('shards').replaceChildren();
  $('results-count').textContent = '';
  $('results-note').textContent = '';
  $('run-status').className = 'status';
  $('run-status').textContent = '';
  $('run-wait').textContent = '';
  $('run-counts').textContent = '';
  $('run-error').textContent = '';
  $('abort').disabled = true;
  $('progress').setAttribute('aria-valuenow', '0');
  for (const part of $('progress').children) part.style.width = '0%';
  $('run-title').textContent = 'loading…';
  conn('connecting…');
  watch();
  return () => {
    left = true;
    onRequest = () => {};
    leave.abort();
  };
}

$('login-form').onsubmit = async (ev) => {
  ev.preventDefault();
  token = $('token-input').value.trim();
  $('token-input').value = '';
  try {
    // One request proves the token (a 401 signs out again with a message).
    await api((x) => x.runs.list({ limit: 1 })[Symbol.asyncIterator]().next());
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
