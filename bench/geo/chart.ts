// The chart of `npm run bench:geo`: end-to-end latency CDFs per deployment as a standalone SVG.

export const COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#2ca02c", "#8c564b"];

export interface CdfLine {
  label: string;
  /** Sorted ascending. */
  values: Float64Array;
  color: string;
  dash?: string;
}

/** Empirical CDFs on a log-scale x axis, with the p99 line and the `targetMs` line marked. */
export function cdfSvg(lines: readonly CdfLine[], title: string, subtitle: string, targetMs: number): string {
  const W = 960;
  const H = 560;
  const m = { left: 80, right: 250, top: 64, bottom: 64 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const steps = [1, 2, 5];
  const lo = Math.max(0.5, Math.min(...lines.map((l) => l.values[Math.floor(l.values.length * 0.001)]!)));
  const hi = Math.max(...lines.map((l) => l.values[Math.min(l.values.length - 1, Math.floor(l.values.length * 0.999))]!));
  let xmin = 10 ** Math.floor(Math.log10(lo));
  let xmax = 10 ** Math.ceil(Math.log10(hi));
  for (const s of steps) if (10 ** Math.floor(Math.log10(lo)) * s <= lo) xmin = 10 ** Math.floor(Math.log10(lo)) * s;
  for (const s of [...steps].reverse()) if (10 ** Math.floor(Math.log10(hi)) * s >= hi) xmax = 10 ** Math.floor(Math.log10(hi)) * s;
  const x = (ms: number) => m.left + (pw * (Math.log10(Math.min(Math.max(ms, xmin), xmax)) - Math.log10(xmin))) / (Math.log10(xmax) - Math.log10(xmin));
  const y = (q: number) => m.top + ph * (1 - q);
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.left}" y="26" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${m.left}" y="46" fill="#555">${esc(subtitle)}</text>`,
  ];
  // Grid and ticks.
  for (let decade = Math.floor(Math.log10(xmin)); decade <= Math.ceil(Math.log10(xmax)); decade++) {
    for (const s of steps) {
      const v = s * 10 ** decade;
      if (v < xmin * 0.999 || v > xmax * 1.001) continue;
      out.push(`<line x1="${x(v).toFixed(1)}" y1="${m.top}" x2="${x(v).toFixed(1)}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${x(v).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
  }
  for (let q = 0; q <= 1.0001; q += 0.1) {
    out.push(`<line x1="${m.left}" y1="${y(q).toFixed(1)}" x2="${m.left + pw}" y2="${y(q).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 8}" y="${(y(q) + 4).toFixed(1)}" text-anchor="end">${Math.round(q * 100)}%</text>`);
  }
  // Targets: p99 line and 100 ms line.
  out.push(`<line x1="${m.left}" y1="${y(0.99).toFixed(1)}" x2="${m.left + pw}" y2="${y(0.99).toFixed(1)}" stroke="#999" stroke-dasharray="2 3"/>`);
  out.push(`<text x="${m.left + 4}" y="${(y(0.99) + 13).toFixed(1)}" fill="#777">p99</text>`);
  if (targetMs >= xmin && targetMs <= xmax) {
    out.push(`<line x1="${x(targetMs).toFixed(1)}" y1="${m.top}" x2="${x(targetMs).toFixed(1)}" y2="${m.top + ph}" stroke="#999" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${(x(targetMs) + 4).toFixed(1)}" y="${m.top + 14}" fill="#777">target p99 ${targetMs} ms</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  // One line per scenario: the empirical CDF, at 500 quantiles.
  for (const l of lines) {
    const n = l.values.length;
    const pts: string[] = [];
    for (let k = 0; k <= 500; k++) {
      const q = k / 500;
      const v = l.values[Math.min(n - 1, Math.round(q * (n - 1)))]!;
      pts.push(`${x(v).toFixed(1)},${y(q).toFixed(1)}`);
    }
    out.push(`<polyline fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ""} points="${pts.join(" ")}"/>`);
  }
  // Axis labels and legend.
  out.push(`<text x="${m.left + pw / 2}" y="${H - 18}" text-anchor="middle" font-size="13">end-to-end latency of one prediction (ms, log scale)</text>`);
  out.push(`<text transform="translate(22 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">share of clients, population-weighted (CDF)</text>`);
  lines.forEach((l, i) => {
    const ly = m.top + 10 + i * 22;
    out.push(`<line x1="${m.left + pw + 16}" y1="${ly}" x2="${m.left + pw + 44}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ""}/>`);
    out.push(`<text x="${m.left + pw + 50}" y="${ly + 4}">${esc(l.label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
