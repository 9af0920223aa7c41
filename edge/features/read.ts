// Reads an entity's feature values for a prediction, by each view's consistency:
// - strong views from the entity's home shard, in the touch that counts the caller when the
//   entity is the caller (one call), else in one read of that shard;
// - bounded views from a ReplicaDO in this PoP's region that holds a copy never older than the
//   view's maxStalenessMs. When the entity is the caller, the home shard is on the request's path
//   anyway (to count it), so bounded views are read there too: fresher, at no extra cost. When
//   the home is in this PoP's region, there is nothing nearer than it.
// A replica that cannot be reached falls back to the home shard (a strong read satisfies any bound).
import type { StoredFeatures } from "../../shared/feature-inputs";
import type { Shard } from "../../shared/hashring";
import type { Manifest } from "../../shared/manifest";
import { shardLabel } from "../../shared/shards";
import { admit, callShard, findKey, withTimeout, type Bindings, type Caller, type FeatureReads } from "../callers/admit";
import type { Env } from "../env";
import { locate } from "../geo/peers";
import type { Mesh } from "../geo/mesh";
import type { ReplicaRead } from "./replica-do";

export interface EntityRead {
  /** The caller's counting headers (x-meridian-shard, rate limit). */
  headers: Record<string, string>;
  features: StoredFeatures;
  /** "bounded" when any view's values came from a regional copy, else "strong". */
  consistency: "strong" | "bounded";
  /** Age of the oldest regional copy used (0 when strong). */
  ageMs: number;
}

export async function readEntity(env: Bindings & Pick<Env, "REPLICAS">, mesh: Mesh, caller: Caller, manifest: Manifest, reads: FeatureReads): Promise<EntityRead> {
  const bounded = caller.key === reads.entity ? [] : (manifest.features ?? []).filter((b) => b.consistency === "bounded" && reads.views.includes(b.name));
  const nearby = new Set(bounded.map((b) => b.name));
  const atHome = reads.views.filter((v) => !nearby.has(v));
  const bound = Math.min(...bounded.map((b) => b.maxStalenessMs ?? 0));
  const [admission, replica] = await Promise.all([
    admit(env, mesh, caller, atHome.length > 0 ? { entity: reads.entity, views: atHome } : undefined),
    bounded.length > 0 ? readNearby(env, mesh, caller, reads.entity, [...nearby], bound) : null,
  ]);
  const features = { ...(admission.features ?? {}), ...(replica?.features ?? {}) };
  const fromCopy = replica?.source === "replica";
  return { headers: admission.headers, features, consistency: fromCopy ? "bounded" : "strong", ageMs: fromCopy ? replica.ageMs : 0 };
}

/** The views from this region's replica of the entity's home shard (or from the home itself). */
async function readNearby(env: Bindings & Pick<Env, "REPLICAS">, mesh: Mesh, caller: Omit<Caller, "key">, entity: string, views: string[], bound: number): Promise<ReplicaRead> {
  const home = await findKey(env, mesh, caller, entity);
  if (!home) return { features: {}, source: "home", ageMs: 0 }; // never seen: no values anywhere
  const fromHome = async (): Promise<ReplicaRead> => ({ features: await callShard(env, mesh, home, (stub) => stub.readFeatures(entity, views)), source: "home", ageMs: 0 });
  const { config } = mesh;
  const here = config.shardLayout.homeFor(locate(caller.colo, caller.cf()), (r) => !config.downRegions.has(r));
  if (!here || here === home.region) return fromHome();
  const replica: Shard = { id: `${home.id}@${here}`, region: here };
  const breaker = mesh.shardBreakers.get(`replica:${replica.id}`);
  if (!breaker.allow()) return fromHome();
  try {
    const stub = env.REPLICAS.get(env.REPLICAS.idFromName(replica.id), { locationHint: here });
    const read = await withTimeout(stub.read(home, entity, views, bound), config.peerTimeoutMs);
    breaker.success();
    return read;
  } catch (err) {
    breaker.failure();
    console.error(`replica ${shardLabel(replica)} failed, reading the home shard:`, err instanceof Error ? err.message : String(err));
    return fromHome();
  }
}
