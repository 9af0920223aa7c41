// The dashboard's HTML: one self-contained page (no external assets, the Worker serves it
// whole) whose script polls /dashboard/data every two seconds and redraws. Charts are inline SVG.

const STYLE = `
  :root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec; --bg:#f7f8fa; --ok:#1f8a4c; --bad:#c0392b; --warn:#b7791f; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:var(--bg); }
  header { padding:14px 24px; background:#fff; border-bottom:1px solid var(--line); display:flex; gap:16px; align-items:baseline; }
  header h1 { font-size:18px; margin:0; }
  header .muted { color:var(--muted); }
  main { padding:16px 24px; display:grid; gap:16px; }
  section.model { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px; }
  section.model h2 { font-size:16px; margin:0 0 8px; }
  .badges span { display:inline-block; margin-right:8px; padding:1px 8px; border-radius:10px; background:#eef1f6; font-size:12px; }
  table { border-collapse:collapse; width:100%; margin:6px 0 10px; font-size:13px; }
  th, td { text-align:left; padding:3px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  td:last-child { white-space:normal; }
  section.model { overflow-x:auto; }
  th { color:var(--muted); font-weight:600; }
  .ok { color:var(--ok); } .bad { color:var(--bad); } .warn { color:var(--warn); }
  .charts { display:grid; grid-template-columns:repeat(3, minmax(220px, 1fr)); gap:12px; }
  .chart h3 { font-size:12px; color:var(--muted); margin:0 0 2px; font-weight:600; }
  .chart svg { width:100%; height:110px; background:#fbfcfd; border:1px solid var(--line); border-radius:4px; }
  .legend span { margin-right:10px; font-size:12px; }
  .rollout { border-left:3px solid var(--warn); padding:6px 10px; margin:8px 0; background:#fffaf0; }
  .rollout.succeeded { border-color:var(--ok); background:#f2fbf5; } .rollout.rolled_back, .rollout.aborted { border-color:var(--bad); background:#fdf3f2; }
  .history { font-family:ui-monospace, monospace; font-size:12px; white-space:pre-wrap; color:#333; }
  form { max-width:360px; margin:80px auto; background:#fff; padding:20px; border:1px solid var(--line); border-radius:8px; }
  input { width:100%; padding:6px; margin:8px 0; font:inherit; }
`;

export function loginPage(message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Meridian · sign in</title><style>${STYLE}</style></head>
<body><form method="post" action="/dashboard/login"><h1>Meridian dashboard</h1>
<p class="muted">Sign in with the metrics token (METRICS_TOKEN) or the admin token.</p>
${message ? `<p class="bad">${message}</p>` : ""}
<input type="password" name="token" autocomplete="current-password" placeholder="token" required autofocus>
<button type="submit">Sign in</button></form></body></html>`;
}

// Runs in the browser: keep it plain ES2020, no imports.
const SCRIPT = `
const COLORS = ["#2b6cb0", "#d69e2e", "#38a169", "#805ad5", "#e53e3e", "#319795"];
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const pct = (x) => (x * 100).toFixed(2) + "%";
const ms = (s) => (s == null ? "–" : (s * 1000).toFixed(1) + " ms");

function chart(title, lines, value, format, from, to) {
  const W = 300, H = 110, P = 4;
  const all = lines.flatMap((l) => l.points.map(value)).filter((v) => v != null && isFinite(v));
  const max = Math.max(1e-9, ...all) * 1.1;
  const x = (t) => P + ((t - from) / (to - from)) * (W - 2 * P);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  // A series has points only in the windows with requests: a dot on each, so a lone window
  // shows too. The SVG stretches to its box; non-scaling strokes keep lines and dots round.
  const paths = lines.map((l, i) => {
    const pts = l.points.filter((p) => value(p) != null).map((p) => x(p.t).toFixed(1) + "," + y(value(p)).toFixed(1));
    const color = COLORS[i % COLORS.length];
    return '<polyline fill="none" stroke-width="1.8" stroke-linejoin="round" vector-effect="non-scaling-stroke" stroke="' + color + '" points="' + pts.join(" ") + '"/>' +
      '<path fill="none" stroke-width="5" stroke-linecap="round" vector-effect="non-scaling-stroke" stroke="' + color + '" d="' + pts.map((p) => "M" + p + "h0").join("") + '"/>';
  }).join("");
  const last = lines.map((l) => { const p = l.points.at(-1); return p ? format(value(p)) : "–"; });
  return '<div class="chart"><h3>' + esc(title) + ' <span class="muted">max ' + esc(format(max / 1.1)) + '</span></h3>' +
    '<svg viewBox="0 0 ' + W + ' ' + H + '" preserveAspectRatio="none" data-chart="' + esc(title) + '">' + paths + '</svg>' +
    '<div class="legend">' + lines.map((l, i) => '<span style="color:' + COLORS[i % COLORS.length] + '">v' + esc(l.version) + ' ' + esc(l.variant) + ': ' + esc(last[i]) + '</span>').join("") + '</div></div>';
}

// A gate's value and limit in its own unit: request and failure counts, shares, ratios.
function gateFigure(gate, v) {
  if (v == null) return "–";
  if (gate === "min_requests" || gate === "load") return String(Math.round(v));
  if (gate === "error_rate" || gate === "agreement") return pct(v);
  if (gate === "p99_ratio") return (+v).toFixed(2) + "×";
  return (+v).toPrecision(3);
}

function rolloutBlock(r) {
  if (!r) return "";
  const gates = r.last && r.state === "running" ? '<table><tr><th>gate</th><th>state</th><th>value</th><th>limit</th><th>detail</th></tr>' + r.last.gates.map((g) =>
    '<tr><td>' + esc(g.gate) + '</td><td class="' + (g.pass ? "ok" : g.decided ? "bad" : "warn") + '">' + (g.pass ? "pass" : g.decided ? "FAIL" : "pending") + '</td><td>' +
    esc(gateFigure(g.gate, g.value)) + '</td><td>' + esc(gateFigure(g.gate, g.limit)) + '</td><td>' + esc(g.detail) + '</td></tr>').join("") + '</table>' : "";
  const step = r.step < 0 ? "shadow phase" : "phase " + (r.phase + 1) + "/" + r.phases.length + ", step " + (r.step + 1) + "/" + r.spec.steps.length + " (" + r.spec.steps[r.step] + "%)";
  return '<div class="rollout ' + esc(r.state) + '" data-rollout-state="' + esc(r.state) + '"><b>Rollout v' + esc(r.version) + ' over v' + esc(r.stable) + ': ' + esc(r.state) + '</b>' +
    (r.state === "running" ? ' · ' + esc(step) : "") + gates +
    '<div class="history">' + r.history.map((h) => esc(h.at.slice(11, 19) + "  " + h.action.padEnd(8) + " " + String(h.percent).padStart(3) + "%  " + h.scope + ": " + h.note)).join("\\n") + '</div></div>';
}

function modelBlock(m, now) {
  // The charts span the data shown (at least a minute), not always the whole ten minutes.
  const first = Math.min(...m.series.flatMap((s) => s.points.map((p) => p.t)));
  const from = Math.max(now - 10 * 60000, Math.min(now - 60000, first - 10000));
  const lines = m.series.filter((s) => s.points.length);
  const badges = ['serving v' + (m.serving ?? "none"), m.canary ? 'canary v' + m.canary.version + ' ' + m.canary.percent + '%' + (m.canary.where ? ' ' + JSON.stringify(m.canary.where) : '') : null,
    m.shadow ? 'shadow v' + m.shadow.version + ' ' + m.shadow.percent + '%' : null, 'seq ' + m.seq, 'latest v' + (m.latest ?? "none")].filter(Boolean);
  const pops = m.pops.length ? '<table><tr><th>PoP</th><th>serves</th><th>canary</th><th>seq</th><th>behind</th><th>report age</th><th>failed to load</th></tr>' + m.pops.map((p) =>
    '<tr data-pop="' + esc(p.colo) + '"><td>' + esc(p.colo) + '</td><td class="' + (p.version === m.serving ? "" : "warn") + '">v' + esc(p.version ?? "none") + '</td><td>' + esc(p.canary == null ? "–" : "v" + p.canary) +
    '</td><td>' + esc(p.seq) + '</td><td class="' + (p.behind ? "warn" : "ok") + '">' + esc(p.behind) + '</td><td>' + esc(p.reportAgeSeconds.toFixed(0)) + ' s</td><td class="bad">' + esc(p.failed ?? "") + '</td></tr>').join("") + '</table>' : '<p class="muted">no PoP has reported yet</p>';
  const charts = lines.length ? '<div class="charts">' +
    chart("requests / s", lines, (p) => p.rate, (v) => v.toFixed(2), from, now) +
    chart("error rate", lines, (p) => p.errorRate, pct, from, now) +
    chart("p99", lines, (p) => p.p99, ms, from, now) + '</div>' : '<p class="muted">no requests in the last 10 minutes</p>';
  return '<section class="model" data-model="' + esc(m.name) + '"><h2>' + esc(m.name) + '</h2><div class="badges">' + badges.map((b) => '<span>' + esc(b) + '</span>').join("") + '</div>' +
    rolloutBlock(m.rollout) + pops + charts + '</section>';
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const res = await fetch("/dashboard/data", { credentials: "same-origin" });
    if (!res.ok) throw new Error((await res.json()).error || res.status);
    const data = await res.json();
    // Models with a running rollout first, then those with traffic, then the rest (by name).
    const rank = (m) => (m.rollout && m.rollout.state === "running" ? 0 : m.series.some((s) => s.points.length) ? 1 : 2);
    const models = [...data.models].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    document.getElementById("models").innerHTML = models.map((m) => modelBlock(m, data.now)).join("");
    status.textContent = "updated " + new Date(data.now).toISOString().slice(11, 19) + " UTC · " + data.models.length + " models";
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (err) {
    status.textContent = "update failed: " + err.message;
  }
}
refresh();
setInterval(refresh, 2000);
`;

export function dashboardPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Meridian · fleet</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head>
<body><header><h1>Meridian fleet</h1><span class="muted" id="status">loading…</span></header>
<main id="models"></main><script>${SCRIPT}</script></body></html>`;
}
