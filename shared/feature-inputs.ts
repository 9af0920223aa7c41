// Builds a model's feature inputs from an entity's stored values: the one place that decides
// what a missing or too-old value becomes (the feature's default, or a refusal), so every side
// that builds inputs from a view builds the same ones.
import { elementCount } from "./datatypes";
import { elements, featureSize, type FeatureBinding } from "./features";
import type { TensorSpec } from "./manifest";

/** One element of a value: a number, an INT64 as a decimal string, or a BOOL. */
export type Scalar = number | string | boolean;

/** A stored value and the event time it was written with. */
export interface StoredValue {
  value: Scalar[];
  eventTime: number;
}

/** An entity's stored values: view → feature → value. */
export type StoredFeatures = Record<string, Record<string, StoredValue>>;

/** A feature the entity has no usable value for and that has no default. */
export class MissingFeature extends Error {
  override name = "MissingFeature";
}

export interface FilledInput {
  name: string;
  datatype: TensorSpec["datatype"];
  shape: number[];
  data: unknown[];
}

export interface FeatureFill {
  inputs: FilledInput[];
  /** "view.feature" for every default used (no value, or one older than maxAgeMs). */
  defaulted: string[];
  /** "view.feature" for every value that was there but older than maxAgeMs (so defaulted, or refused). */
  stale: string[];
}

/**
 * The inputs the bindings fill, each with `rows` identical rows (one entity per request), from
 * `stored` as of `now`. Throws MissingFeature naming the first feature with neither a usable
 * value nor a default.
 */
export function fillInputs(bindings: readonly FeatureBinding[], specs: readonly TensorSpec[], stored: StoredFeatures, rows: number, now: number): FeatureFill {
  const defaulted: string[] = [];
  const stale: string[] = [];
  const byInput = new Map<string, FeatureBinding[]>();
  for (const b of bindings) byInput.set(b.input, [...(byInput.get(b.input) ?? []), b]);
  const inputs: FilledInput[] = [];
  for (const [name, views] of byInput) {
    const spec = specs.find((s) => s.name === name)!;
    const rowShape = spec.shape.slice(1);
    const width = elementCount(rowShape);
    const row = new Array<unknown>(width);
    for (const b of views) {
      let at = b.offset ?? 0;
      for (const f of b.features) {
        const id = `${b.name}.${f.name}`;
        const have = stored[b.name]?.[f.name];
        const old = have !== undefined && f.maxAgeMs !== undefined && now - have.eventTime > f.maxAgeMs;
        if (old) stale.push(id);
        let value: unknown[];
        if (have && !old) value = have.value;
        else if (f.default !== undefined) {
          value = elements(f.default)!;
          defaulted.push(id);
        } else {
          throw new MissingFeature(
            old
              ? `feature "${f.name}" of view "${b.name}" is stale (written ${new Date(have!.eventTime).toISOString()}, older than maxAgeMs ${f.maxAgeMs}) and has no default`
              : `feature "${f.name}" of view "${b.name}" has no value for this entity and no default`,
          );
        }
        for (let i = 0; i < featureSize(f); i++) row[at + i] = value[i];
        at += featureSize(f);
      }
    }
    const batch = spec.shape[0] === -1 ? rows : spec.shape[0]!;
    const data = new Array<unknown>(batch * width);
    for (let r = 0; r < batch; r++) for (let i = 0; i < width; i++) data[r * width + i] = row[i];
    inputs.push({ name, datatype: spec.datatype, shape: [batch, ...rowShape], data });
  }
  return { inputs, defaulted, stale };
}
