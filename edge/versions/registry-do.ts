// RegistryDO: one per model, the single writer of that model's serving pointer. Every change
// is a compare-and-set on the version the caller saw, is written to D1, and is then announced
// on KV. Changes run one at a time (a D1 await would otherwise let a second one interleave).
import { DurableObject } from "cloudflare:workers";
import { and, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Manifest } from "../../shared/manifest";
import type { PopStatus } from "../../shared/status";
import { pointerKey, type Canary, type Pointer } from "./pointer";
import { events, models, versions, type EventAction } from "./schema";

export interface ModelState {
  serving: number | null;
  canary: Canary | null;
  seq: number;
  nextVersion: number;
  /** Versions that served before the current one, most recent last: what rollback returns to. */
  previous: number[];
}


/** The bindings the registry writes to (not the Worker's whole Env: no import back). */
export interface RegistryBindings {
  DB: D1Database;
  POINTERS: KVNamespace;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; status: 400 | 404 | 409; error: string; serving?: number | null; nextVersion?: number };

export interface NewVersion {
  manifest: Manifest;
  signature: string;
  actor: string;
}

const EMPTY: ModelState = { serving: null, canary: null, seq: 0, nextVersion: 1, previous: [] };

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
      if (version === s.serving) return { error: `version ${version} is already serving` };
      const previous = s.serving === null ? s.previous : [...s.previous, s.serving];
      const canary = s.canary?.version === version ? null : s.canary;
      return { next: { ...s, serving: version, canary, previous }, action: "promote", to: version };
    });
  }

  rollback(name: string, expected: number | null, actor: string): Promise<Outcome<ModelState>> {
    return this.change(name, expected, actor, async (s) => {
      const target = s.previous.at(-1);
      if (target === undefined) return { error: "nothing to roll back to: no version served before this one" };
      return { next: { ...s, serving: target, canary: null, previous: s.previous.slice(0, -1) }, action: "rollback", to: target };
    });
  }

  canary(name: string, version: number, percent: number, expected: number | null, actor: string): Promise<Outcome<ModelState>> {
    return this.change(name, expected, actor, async (s) => {
      if (s.serving === null) return { error: "promote a version before starting a canary" };
      if (version === s.serving) return { error: `version ${version} is already serving` };
      const canary = percent === 0 ? null : { version, percent };
      return { next: { ...s, canary }, action: "canary", to: version, percent };
    });
  }

  /** The common shape of every pointer change: CAS, D1 (states + history), then KV. */
  private change(
    name: string,
    expected: number | null,
    actor: string,
    decide: (s: ModelState) => Promise<{ error: string } | { next: ModelState; action: EventAction; to: number; percent?: number }>,
  ): Promise<Outcome<ModelState>> {
    return this.serial(async () => {
      const s = await this.state();
      if (s.serving !== expected) {
        return { ok: false, status: 409, error: `expected version ${expected ?? "none"} to be serving, but ${s.serving ?? "none"} is`, serving: s.serving };
      }
      const d = await decide(s);
      if ("error" in d) return { ok: false, status: 400, error: d.error };
      const db = drizzle(this.env.DB);
      const target = await db
        .select({ version: versions.version })
        .from(versions)
        .where(and(eq(versions.model, name), eq(versions.version, d.to)))
        .get();
      if (!target) return { ok: false, status: 404, error: `model "${name}" has no version ${d.to}` };

      const next = { ...d.next, seq: s.seq + 1 };
      const now = new Date().toISOString();
      const touched = [...new Set([s.serving, s.canary?.version, next.serving, next.canary?.version].filter((v): v is number => v != null))];
      await db.batch([
        // Everything this change touches goes back to retired/validated, then the new roles are set.
        db.update(versions).set({ state: "retired" }).where(and(eq(versions.model, name), inArray(versions.version, touched))),
        ...(next.canary ? [db.update(versions).set({ state: "canary" }).where(and(eq(versions.model, name), eq(versions.version, next.canary.version)))] : []),
        db.update(versions).set({ state: "serving" }).where(and(eq(versions.model, name), eq(versions.version, next.serving!))),
        db.insert(events).values(event(name, d.action, s.serving, d.to, d.percent ?? null, next.seq, actor, now)),
      ]);
      await this.ctx.storage.put("state", next);
      const pointer: Pointer = { version: next.serving!, seq: next.seq, canary: next.canary, fallback: next.previous.at(-1) ?? null };
      await this.env.POINTERS.put(pointerKey(name), JSON.stringify(pointer));
      return { ok: true, value: next };
    });
  }
}

function event(model: string, action: EventAction, from: number | null, to: number, percent: number | null, seq: number, actor: string, at: string) {
  return { model, action, fromVersion: from, toVersion: to, percent, seq, actor, at };
}
