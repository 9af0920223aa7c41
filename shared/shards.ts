// Where a caller key's state lives. Each key has a home region, chosen once at first contact (the
// region of the PoP that first saw it; edge/geo/homes.ts records it), and the key's shard is the
// owner on that region's consistent-hash ring. State therefore sits near the caller, and a key
// still maps to one shard world-wide because its home never changes. Pure.
import { nearest, type LatLon } from "./geo";
import { HashRing, type Shard } from "./hashring";
import { REGIONS, REGION_HINTS, regionPop, type RegionHint } from "./pops";

/** Two shards per region by default: a hot key still spreads its region's load over two objects. */
export const DEFAULT_LAYOUT = REGIONS.map((r) => `${r.hint}:2`).join(",");

export class LayoutError extends Error {
  override name = "LayoutError";
}

/**
 * "weur:2,enam:1" → shards weur-0, weur-1, enam-0, each hinted to its region. Ids name the
 * region so that changing another region's count moves no key of this one.
 */
export function parseLayout(layout: string): Shard[] {
  const shards: Shard[] = [];
  for (const part of layout.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)(?::(\d+))?$/.exec(part);
    const hint = m?.[1] as RegionHint | undefined;
    if (!m || !hint || !REGION_HINTS.includes(hint)) {
      throw new LayoutError(`SHARD_LAYOUT: "${part}" is not <region>[:<count>] with a region in ${REGION_HINTS.join(", ")}`);
    }
    const count = m[2] === undefined ? 1 : Number(m[2]);
    for (let i = 0; i < count; i++) shards.push({ id: `${hint}-${i}`, region: hint });
  }
  if (shards.length === 0) throw new LayoutError("SHARD_LAYOUT names no shard");
  return shards;
}

export class ShardLayout {
  private readonly rings = new Map<RegionHint, HashRing>();

  constructor(readonly shards: readonly Shard[]) {
    for (const region of new Set(shards.map((s) => s.region))) {
      this.rings.set(region, new HashRing(shards.filter((s) => s.region === region)));
    }
  }

  /** Regions that hold at least one shard. */
  regions(): RegionHint[] {
    return [...this.rings.keys()];
  }

  /**
   * The region a new key seen at `pop` makes its home: the PoP's own region when it holds shards
   * and is usable, else the nearest usable region (by its hub); from nowhere known, the layout's
   * first usable region. undefined when none is usable.
   */
  homeFor(pop: (LatLon & { region?: RegionHint | undefined }) | undefined, usable: (r: RegionHint) => boolean = () => true): RegionHint | undefined {
    if (!pop) return this.regions().find(usable);
    if (pop.region && this.rings.has(pop.region) && usable(pop.region)) return pop.region;
    return this.nearestRegion(pop, usable);
  }

  /** The key's shard on its home region's ring (a home whose shards were all removed: the nearest region's ring). */
  owner(key: string, home: RegionHint): Shard {
    const ring = this.rings.get(home) ?? this.rings.get(this.nearestRegion(regionPop(home))!)!;
    return ring.owner(key);
  }

  private nearestRegion(from: LatLon, usable: (r: RegionHint) => boolean = () => true): RegionHint | undefined {
    const hubs = [...this.rings.keys()].filter(usable).map(regionPop);
    return nearest(from, hubs)?.item.region;
  }
}

// Built once per layout string: 18 shards × 512 vnodes take a few ms.
const layouts = new Map<string, ShardLayout>();

export function shardLayout(layout: string = DEFAULT_LAYOUT): ShardLayout {
  let built = layouts.get(layout);
  if (!built) layouts.set(layout, (built = new ShardLayout(parseLayout(layout))));
  return built;
}

/** Header value naming a shard and its region, e.g. "weur-1@weur". */
export const shardLabel = (shard: Shard) => `${shard.id}@${shard.region}`;
