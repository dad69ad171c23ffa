// qgate status page: polls /api/status every POLL_MS, keeps the last WINDOW
// samples and plots rates, the queue, refusals per plugin and hook latency,
// all derived from the same counters /metrics serves. A token, if the admin
// listener needs one, is given in the address: /#token=...

const POLL_MS = 2000;
const WINDOW = 150; // five minutes of samples
const COLORS = ['#2f6fde', '#2f8f4e', '#b03a2e', '#c98a12', '#7a4fc9', '#1c9aa5', '#c2417d', '#5b6578'];

const token = new URLSearchParams(location.hash.slice(1)).get('token');
const samples = [];

/** Sum of a metric's values whose labels match `where`, grouped by the label `by` (or one total). */
function total(metrics, name, where = {}, by) {
  const metric = metrics.find((m) => m.name === name);
  const out = new Map();
  if (!metric) return by ? out : 0;
  for (const v of metric.values) {
    if (!Object.entries(where).every(([k, want]) => v.labels[k] === want)) continue;
    const key = by ? (v.labels[by] ?? '') : '';
    out.set(key, (out.get(key) ?? 0) + v.value);
  }
  return by ? out : (out.get('') ?? 0);
}

/** A histogram's _sum or _count rows, grouped by label `by`. */
function histogram(metrics, name, part, by) {
  const metric = metrics.find((m) => m.name === name);
  const out = new Map();
  if (!metric) return out;
  for (const v of metric.values) {
    if (v.metricName !== `${name}_${part}`) continue;
    const key = v.labels[by] ?? '';
    out.set(key, (out.get(key) ?? 0) + v.value);
  }
  return out;
}

function summarize(status) {
  const m = status.metrics;
  return {
    time: status.time,
    connections: total(m, 'qgate_connections_total'),
    queued: total(m, 'qgate_messages_total', { result: 'queued' }),
    rejected: total(m, 'qgate_messages_total', { result: 'rejected' }),
    rejectedBy: total(m, 'qgate_messages_total', { result: 'rejected' }, 'plugin'),
    delivered: total(m, 'qgate_delivery_attempts_total', { result: 'delivered' }),
    deferred: total(m, 'qgate_delivery_attempts_total', { result: 'deferred' }),
    queue: total(m, 'qgate_queue_messages', {}, 'state'),
    hookSum: histogram(m, 'qgate_hook_duration_seconds', 'sum', 'plugin'),
    hookCount: histogram(m, 'qgate_hook_duration_seconds', 'count', 'plugin'),
  };
}

/** Per-second rate of a counter between consecutive samples. */
function rate(pick) {
  const points = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].time - samples[i - 1].time) / 1000;
    points.push(dt > 0 ? Math.max(0, (pick(samples[i]) - pick(samples[i - 1])) / dt) : 0);
  }
  return points;
}

function keysOf(pickMap) {
  const keys = new Set();
  for (const s of samples) for (const k of pickMap(s).keys()) keys.add(k);
  return [...keys].sort();
}

function draw(id, series) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  const pad = { left: 44, right: 8, top: 8, bottom: 18 };
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points));
  const top = niceCeil(max);
  ctx.strokeStyle = '#e3e6eb';
  ctx.fillStyle = '#5b6578';
  ctx.font = '11px system-ui, sans-serif';
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + ((h - pad.top - pad.bottom) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(w - pad.right, y);
    ctx.stroke();
    ctx.fillText(format(top * (1 - i / 4)), 2, y + 4);
  }
  ctx.fillText(`last ${Math.round((WINDOW * POLL_MS) / 60000)} min`, pad.left, h - 4);
  series.forEach((s, n) => {
    ctx.strokeStyle = s.color ?? COLORS[n % COLORS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    const span = WINDOW - 1;
    s.points.forEach((v, i) => {
      const x = pad.left + ((w - pad.left - pad.right) * (span - (s.points.length - 1 - i))) / span;
      const y = pad.top + (h - pad.top - pad.bottom) * (1 - v / top);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  });
  const legend = document.getElementById(`${id}-legend`);
  legend.replaceChildren(
    ...series.map((s, n) => {
      const li = document.createElement('li');
      li.style.setProperty('--color', s.color ?? COLORS[n % COLORS.length]);
      const last = s.points.length ? s.points[s.points.length - 1] : 0;
      li.textContent = `${s.name}: ${format(last)}`;
      return li;
    }),
  );
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function format(v) {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return String(Math.round(v));
  return String(Math.round(v * 100) / 100);
}

function render() {
  const last = samples[samples.length - 1];
  for (const [id, v] of [
    ['total-connections', last.connections],
    ['total-queued', last.queued],
    ['total-rejected', last.rejected],
    ['total-delivered', last.delivered],
    ['total-deferred', last.deferred],
    ['total-queue', [...last.queue.values()].reduce((a, b) => a + b, 0)],
  ])
    document.getElementById(id).textContent = String(v);
  draw('rates', [
    { name: 'connections', points: rate((s) => s.connections) },
    { name: 'queued', points: rate((s) => s.queued) },
    { name: 'rejected', points: rate((s) => s.rejected) },
    { name: 'delivered', points: rate((s) => s.delivered) },
  ]);
  draw(
    'queue',
    keysOf((s) => s.queue).map((state) => ({ name: state, points: samples.map((s) => s.queue.get(state) ?? 0) })),
  );
  draw(
    'refusals',
    keysOf((s) => s.rejectedBy).map((plugin) => ({
      name: plugin || '(none)',
      points: rate((s) => s.rejectedBy.get(plugin) ?? 0),
    })),
  );
  draw(
    'latency',
    keysOf((s) => s.hookCount).map((plugin) => {
      const points = [];
      for (let i = 1; i < samples.length; i++) {
        const n = (samples[i].hookCount.get(plugin) ?? 0) - (samples[i - 1].hookCount.get(plugin) ?? 0);
        const sum = (samples[i].hookSum.get(plugin) ?? 0) - (samples[i - 1].hookSum.get(plugin) ?? 0);
        points.push(n > 0 ? (sum / n) * 1000 : 0);
      }
      return { name: plugin, points };
    }),
  );
  document.body.dataset.samples = String(samples.length);
}

async function poll() {
  const state = document.getElementById('state');
  try {
    const res = await fetch('api/status', { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
    if (!res.ok) throw new Error(res.status === 401 ? 'token needed: open /#token=...' : `HTTP ${res.status}`);
    const status = await res.json();
    samples.push(summarize(status));
    if (samples.length > WINDOW) samples.shift();
    state.textContent = 'up';
    state.className = 'state up';
    document.getElementById('since').textContent = `pid ${status.pid}, since ${status.startedAt}`;
    render();
  } catch (err) {
    state.textContent = `down: ${err.message}`;
    state.className = 'state down';
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
