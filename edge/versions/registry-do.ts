// RegistryDO: one per model, the single writer of that model's serving pointer. Every change
// is a compare-and-set on the version the caller saw, is written to D1, and is then announced
// on KV. Changes run one at a time (a D1 await would otherwise let a second one interleave).
// It also runs the model's rollout: a state machine kept in storage and driven by alarms, so it
// goes on where it was after the object is evicted or restarted.
import { DurableObject } from "cloudflare:workers";
import { and, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Manifest } from "../../shared/manifest";
import type { PopStatus } from "../../shared/status";
import type { MetricsDO } from "../metrics/aggregator-do";
import { summarize } from "../metrics/summary";
import { pointerKey, type Canary, type Pointer, type Shadow } from "./pointer";
import {
  announcement,
  evaluate,
  failureText,
  inScope,
  nextStep,
  phasesOf,
  scopeText,
  verdict,
} from "./rollout";
import type { HistoryLine, Rollout, RolloutSpec } from "../../shared/fleet";
import { events, models, versions, type EventAction } from "./schema";

export interface ModelState {
  serving: number | null;
  canary: Canary | null;
  seq: number;
  nextVersion: number;
  /** Versions that served before the current one, most recent last: what rollback returns to. */
  previous: number[];
  shadow?: Shadow | null;
}


/** The bindings the registry writes to (not the Worker's whole Env: no import back). */
export interface RegistryBindings {
  DB: D1Database;
  POINTERS: KVNamespace;
  /** Where a rollout reads its windows. */
  METRICS: DurableObjectNamespace<MetricsDO>;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; status: 400 | 404 | 409; error: string; serving?: number | null; nextVersion?: number };

export interface NewVersion {
  manifest: Manifest;
  signature: string;
  actor: string;
}

const EMPTY: ModelState = { serving: null, canary: null, seq: 0, nextVersion: 1, previous: [] };

type Decision = { error: string } | { next: ModelState; action: EventAction; to: number; percent?: number; note?: string };

/** How often a running step is checked: a failing gate rolls back within one tick. */
const tickMs = (r: Rollout) => Math.min(15_000, Math.max(1000, Math.floor(r.spec.intervalMs / 4)));
const ROLLOUT_ACTOR = "rollout";
/** An alarm this far overdue did not fire (a runtime restarted under it): set it again. */
const STALLED_MS = 5_000;

export class RegistryDO extends DurableObject<RegistryBindings> {
  private chain: Promise<unknown> = Promise.resolve();

  /** Runs changes strictly one after another. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  async state(): Promise<ModelState> {
    return (await this.ctx.storage.get<ModelState>("state")) ?? { ...EMPTY, previous: [] };
  }

  async pops(): Promise<PopStatus[]> {
    const map = await this.ctx.storage.list<PopStatus>({ prefix: "pop:" });
    return [...map.values()].sort((a, b) => a.colo.localeCompare(b.colo));
  }

  async report(pop: PopStatus): Promise<void> {
    const key = `pop:${pop.colo}`;
    const known = await this.ctx.storage.get<PopStatus>(key);
    // Isolates of one PoP report in any order: a report never takes its served seq backwards.
    if (!known || known.seq <= pop.seq) await this.ctx.storage.put(key, pop);
  }

  register(v: NewVersion): Promise<Outcome<{ version: number }>> {
    return this.serial(async () => {
      const s = await this.state();
      if (v.manifest.version !== s.nextVersion) {
        return { ok: false, status: 409, error: `version ${v.manifest.version} is not next; push it as version ${s.nextVersion}`, nextVersion: s.nextVersion };
      }
      const now = new Date().toISOString();
      const db = drizzle(this.env.DB);
      const next = { ...s, seq: s.seq + 1, nextVersion: s.nextVersion + 1 };
      await db.batch([
        db.insert(models).values({ name: v.manifest.name, createdAt: now }).onConflictDoNothing(),
        db.insert(versions).values({
          model: v.manifest.name,
          version: v.manifest.version,
          sha256: v.manifest.sha256,
          size: v.manifest.size,
          manifest: v.manifest,
          signature: v.signature,
          state: "validated",
          createdAt: now,
          pushedBy: v.actor,
        }),
        db.insert(events).values(event(v.manifest.name, "push", null, v.manifest.version, null, next.seq, v.actor, now)),
      ]);
      await this.ctx.storage.put("state", next);
      return { ok: true, value: { version: v.manifest.version } };
    });
  }

  promote(name: string, version: number, expected: number | null, actor: string): Promise<Outcome<ModelState>> {
    return this.change(name, expected, actor, async (s) => {
      if (await this.running()) return { error: ROLLOUT_RUNNING };
      if (version === s.serving) return { error: `version ${version} is already serving` };
      const previous = s.serving === null ? s.previous : [...s.previous, s.serving];
      const canary = s.canary?.version === version ? null : s.canary;
      return { next: { ...s, serving: version, canary, previous }, action: "promote", to: version };
    });
  }

  rollback(name: string, expected: number | null, actor: string): Promise<Outcome<ModelState>> {
    return this.change(name, expected, actor, async (s) => {
      if (await this.running()) return { error: ROLLOUT_RUNNING };
      const target = s.previous.at(-1);
      if (target === undefined) return { error: "nothing to roll back to: no version served before this one" };
      return { next: { ...s, serving: target, canary: null, previous: s.previous.slice(0, -1) }, action: "rollback", to: target };
    });
  }

  canary(name: string, version: number, percent: number, expected: number | null, actor: string): Promise<Outcome<ModelState>> {
    return this.change(name, expected, actor, async (s) => {
      if (await this.running()) return { error: ROLLOUT_RUNNING };
      if (s.serving === null) return { error: "promote a version before starting a canary" };
      if (version === s.serving) return { error: `version ${version} is already serving` };
      const canary = percent === 0 ? null : { version, percent };
      return { next: { ...s, canary }, action: "canary", to: version, percent };
    });
  }

  /** Runs `version` beside stable on `percent` of its requests, comparing answers (0 stops it). */
  shadow(name: string, version: number, percent: number, expected: number | null, actor: string): Promise<Outcome<ModelState>> {
    return this.change(name, expected, actor, async (s) => {
      if (await this.running()) return { error: ROLLOUT_RUNNING };
      if (s.serving === null) return { error: "promote a version before shadowing another" };
      if (version === s.serving) return { error: `version ${version} is already serving` };
      return { next: { ...s, shadow: percent === 0 ? null : { version, percent } }, action: "shadow", to: version, percent };
    });
  }

  /** Starts a rollout of `spec.version`: its first step is announced now, the rest on alarms. */
  startRollout(name: string, spec: RolloutSpec, actor: string): Promise<Outcome<Rollout>> {
    return this.serial(async () => {
      const s = await this.state();
      const current = await this.rollout();
      if (current?.state === "running") {
        return { ok: false, status: 409, error: `a rollout of version ${current.version} is running (abort it first: meridian rollout abort ${name})` };
      }
      if (spec.expected !== undefined && s.serving !== spec.expected) {
        return { ok: false, status: 409, error: `expected version ${spec.expected ?? "none"} to be serving, but ${s.serving ?? "none"} is`, serving: s.serving };
      }
      if (s.serving === null) return { ok: false, status: 400, error: "promote a version before rolling out another" };
      if (spec.version === s.serving) return { ok: false, status: 400, error: `version ${spec.version} is already serving` };
      const now = Date.now();
      const r: Rollout = {
        model: name,
        version: spec.version,
        stable: s.serving,
        spec,
        phases: phasesOf(spec),
        phase: 0,
        step: spec.shadowPercent !== undefined ? -1 : 0,
        state: "running",
        startedAt: now,
        stepStartedAt: now,
        announcedSeq: 0,
        history: [],
      };
      const a = announcement(r);
      const applied = await this.apply(name, s, { ...s, canary: a.canary, shadow: a.shadow }, actor, r.step < 0 ? "shadow" : "canary", spec.version, a.percent, `rollout ${scopeText(r.phases[0]!)}`);
      if (!applied.ok) return applied;
      r.announcedSeq = applied.value.seq;
      r.history.push(line(r, r.step < 0 ? "shadow" : "start", a.percent, `started by ${actor}: ${planText(r)}`));
      await this.ctx.storage.put("rollout", r);
      await this.ctx.storage.setAlarm(now + tickMs(r));
      return { ok: true, value: r };
    });
  }

  /** The running rollout, or the last one; re-arms a running one's alarm if it went missing or stalled. */
  async rolloutStatus(): Promise<Rollout | null> {
    const r = await this.rollout();
    if (r?.state === "running") {
      const alarm = await this.ctx.storage.getAlarm();
      if (alarm === null || alarm < Date.now() - STALLED_MS) await this.ctx.storage.setAlarm(Date.now());
    }
    return r;
  }

  abortRollout(actor: string): Promise<Outcome<Rollout>> {
    return this.serial(async () => {
      const r = await this.rollout();
      if (r?.state !== "running") return { ok: false, status: 409, error: "no rollout is running" };
      const ended = await this.end(r, "aborted", `aborted by ${actor}`, actor);
      return ended.ok ? { ok: true, value: r } : ended;
    });
  }

  /** One tick of the running rollout: evaluate the gates on the step's window, then act. */
  override async alarm(): Promise<void> {
    try {
      await this.tick();
    } catch (err) {
      // A failed read (the aggregator restarting, say) is tried again next tick, not dropped.
      console.error("rollout tick failed", err instanceof Error ? err.message : String(err));
      if (await this.running()) await this.ctx.storage.setAlarm(Date.now() + 1000);
    }
  }

  private tick(): Promise<void> {
    return this.serial(async () => {
      const r = await this.rollout();
      if (r?.state !== "running") return;
      const now = Date.now();
      const scope = r.phases[r.phase]!;
      const shadowPhase = r.step < 0;
      const window = await this.env.METRICS.get(this.env.METRICS.idFromName(r.model)).window(r.stepStartedAt, now);
      const figures = summarize(window.pops, (now - r.stepStartedAt) / 1000, { where: (pop) => inScope(scope, pop) });
      const candidate = figures.find((f) => f.version === String(r.version) && f.variant === (shadowPhase ? "shadow" : "canary"));
      const stable = figures.find((f) => f.version === String(r.stable) && f.variant === "stable");
      const loadFailures = (await this.pops())
        .filter((p) => p.failed && p.failed.version === r.version && p.failed.seq >= r.announcedSeq)
        .map((p) => `${p.colo}: ${p.failed!.error.slice(0, 200)}`);
      const gates = evaluate(r.spec, shadowPhase, { candidate, stable, loadFailures });
      const stepOver = now >= r.stepStartedAt + r.spec.intervalMs;
      const decision = verdict(gates, stepOver);
      if (decision === "rollback") {
        await this.end(r, "rolled_back", `rolled back: ${failureText(gates)}`, ROLLOUT_ACTOR, gates);
        return;
      }
      if (decision === "advance") {
        const next = nextStep(r);
        if (!next) {
          await this.end(r, "succeeded", `complete: version ${r.version} serves everyone`, ROLLOUT_ACTOR, gates);
          return;
        }
        const passed = { ...r, ...next };
        const a = announcement(passed);
        const s = await this.state();
        const applied = await this.apply(r.model, s, { ...s, canary: a.canary, shadow: a.shadow }, ROLLOUT_ACTOR, "canary", r.version, a.percent, `gates passed; ${scopeText(passed.phases[passed.phase]!)} at ${a.percent}%`);
        if (!applied.ok) {
          await this.end(r, "aborted", `could not announce the next step: ${applied.error}`, ROLLOUT_ACTOR, gates);
          return;
        }
        Object.assign(r, next, { stepStartedAt: now, announcedSeq: applied.value.seq, waiting: false });
        r.history.push(line(r, "step", a.percent, "every gate passed", gates));
      } else if (decision === "wait" && !r.waiting) {
        r.waiting = true;
        r.history.push(line(r, "wait", announcement(r).percent, `step kept: ${gates.find((g) => g.gate === "min_requests")!.detail}`, gates));
      }
      r.last = { at: now, gates, candidate: candidate ?? null, stable: stable ?? null };
      await this.ctx.storage.put("rollout", r);
      const stepEnd = r.stepStartedAt + r.spec.intervalMs;
      await this.ctx.storage.setAlarm(stepEnd > now ? Math.min(now + tickMs(r), stepEnd) : now + tickMs(r));
    });
  }

  private async rollout(): Promise<Rollout | null> {
    return (await this.ctx.storage.get<Rollout>("rollout")) ?? null;
  }

  private async running(): Promise<boolean> {
    return (await this.rollout())?.state === "running";
  }

  /** Ends a rollout: the candidate serves everyone (succeeded) or nobody (else), in one pointer change. */
  private async end(r: Rollout, state: Exclude<Rollout["state"], "running">, note: string, actor: string, gates?: HistoryLine["gates"]): Promise<Outcome<ModelState>> {
    const s = await this.state();
    const next: ModelState =
      state === "succeeded"
        ? { ...s, serving: r.version, canary: null, shadow: null, previous: s.serving === null || s.serving === r.version ? s.previous : [...s.previous, s.serving] }
        : { ...s, canary: null, shadow: null };
    const action: EventAction = state === "succeeded" ? "promote" : "rollout";
    const applied = await this.apply(r.model, s, next, actor, action, r.version, state === "succeeded" ? 100 : 0, note);
    r.state = state;
    r.endedAt = Date.now();
    r.history.push(line(r, state === "succeeded" ? "complete" : state === "aborted" ? "abort" : "rollback", state === "succeeded" ? 100 : 0, note, gates));
    await this.ctx.storage.put("rollout", r);
    await this.ctx.storage.deleteAlarm();
    return applied;
  }

  /** The common shape of every manual pointer change: CAS, then apply. */
  private change(name: string, expected: number | null, actor: string, decide: (s: ModelState) => Promise<Decision>): Promise<Outcome<ModelState>> {
    return this.serial(async () => {
      const s = await this.state();
      if (s.serving !== expected) {
        return { ok: false, status: 409, error: `expected version ${expected ?? "none"} to be serving, but ${s.serving ?? "none"} is`, serving: s.serving };
      }
      const d = await decide(s);
      if ("error" in d) return { ok: false, status: d.error === ROLLOUT_RUNNING ? 409 : 400, error: d.error };
      return this.apply(name, s, d.next, actor, d.action, d.to, d.percent ?? null, d.note);
    });
  }

  /** Writes a pointer change: D1 (version states + history), storage, then KV. */
  private async apply(
    name: string,
    s: ModelState,
    decided: ModelState,
    actor: string,
    action: EventAction,
    to: number,
    percent: number | null,
    note?: string,
  ): Promise<Outcome<ModelState>> {
    const db = drizzle(this.env.DB);
    const target = await db
      .select({ version: versions.version })
      .from(versions)
      .where(and(eq(versions.model, name), eq(versions.version, to)))
      .get();
    if (!target) return { ok: false, status: 404, error: `model "${name}" has no version ${to}` };

    const next = { ...decided, seq: s.seq + 1 };
    const now = new Date().toISOString();
    const touched = [...new Set([s.serving, s.canary?.version, next.serving, next.canary?.version].filter((v): v is number => v != null))];
    await db.batch([
      // Everything this change touches goes back to retired/validated, then the new roles are set.
      db.update(versions).set({ state: "retired" }).where(and(eq(versions.model, name), inArray(versions.version, touched))),
      ...(next.canary ? [db.update(versions).set({ state: "canary" }).where(and(eq(versions.model, name), eq(versions.version, next.canary.version)))] : []),
      db.update(versions).set({ state: "serving" }).where(and(eq(versions.model, name), eq(versions.version, next.serving!))),
      db.insert(events).values({ ...event(name, action, s.serving, to, percent, next.seq, actor, now), note: note ?? null }),
    ]);
    await this.ctx.storage.put("state", next);
    const pointer: Pointer = { version: next.serving!, seq: next.seq, canary: next.canary, fallback: next.previous.at(-1) ?? null, shadow: next.shadow ?? null, at: Date.now() };
    await this.env.POINTERS.put(pointerKey(name), JSON.stringify(pointer));
    return { ok: true, value: next };
  }
}

const ROLLOUT_RUNNING = "a rollout is running: abort it first (meridian rollout abort)";

function planText(r: Rollout): string {
  const { spec } = r;
  const parts = [
    `v${r.stable} → v${r.version}`,
    `steps ${spec.steps.join(",")}% every ${spec.intervalMs / 1000}s`,
    r.phases.map(scopeText).join(" then "),
    `gates: error ≤ ${(spec.maxErrorRate * 100).toFixed(2)}%, p99 ≤ ${spec.maxP99Ratio}× stable, ≥ ${spec.minRequests} requests`,
  ];
  if (spec.shadowPercent !== undefined) parts.push(`shadow ${spec.shadowPercent}% first${spec.minAgreement !== undefined ? `, agreement ≥ ${(spec.minAgreement * 100).toFixed(1)}%` : ""}`);
  return parts.join("; ");
}

function line(r: Rollout, action: HistoryLine["action"], percent: number, note: string, gates?: HistoryLine["gates"]): HistoryLine {
  const out: HistoryLine = { at: new Date().toISOString(), action, phase: r.phase, step: r.step, percent, scope: r.step < 0 ? "shadow" : scopeText(r.phases[r.phase]!), note };
  if (gates) out.gates = gates;
  return out;
}

function event(model: string, action: EventAction, from: number | null, to: number, percent: number | null, seq: number, actor: string, at: string) {
  return { model, action, fromVersion: from, toVersion: to, percent, seq, actor, at };
}
