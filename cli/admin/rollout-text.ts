// A rollout as an operator reads it: the status block of `meridian rollout` and one line per
// history entry (what `meridian train --rollout` prints as the rollout moves).
import type { GateResult, HistoryLine, Rollout } from "../../shared/fleet";

export function statusText(r: Rollout): string {
  const percent = r.history.at(-1)?.percent ?? 0;
  const where = r.step < 0 ? "shadow phase" : `phase ${r.phase + 1}/${r.phases.length}, step ${r.step + 1}/${r.spec.steps.length} (${percent}%)`;
  const lines = [`${r.model}: rollout of v${r.version} over v${r.stable}: ${r.state}${r.state === "running" ? `, ${where}` : ""}`];
  if (r.last && r.state === "running") lines.push(`  gates now: ${r.last.gates.map(gateText).join(", ")}`);
  lines.push("  history:");
  for (const h of r.history) lines.push(`    ${historyText(h)}`);
  return `${lines.join("\n")}\n`;
}

export function historyText(h: HistoryLine): string {
  return `${h.at}  ${h.action.padEnd(8)} ${String(h.percent).padStart(3)}%  ${h.scope}: ${h.note}`;
}

const gateText = (g: GateResult) => `${g.gate} ${g.pass ? "ok" : g.decided ? "FAILED" : "pending"}${g.value === null ? "" : ` (${round(g.value)} / ${round(g.limit)})`}`;
const round = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(3));
