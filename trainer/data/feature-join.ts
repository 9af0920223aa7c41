// Labelled examples joined to online feature values (`train --features views.json
// --feature-values <export files>`). Each example names its entity (`entity_id`); the model's
// feature inputs are built from the values `meridian features export` wrote, by fillInputs
// (shared/feature-inputs.ts): the function the edge fills them with at prediction time, as of
// the export's time. So a model is trained on exactly the inputs serving will give it: the same
// layout, the same defaults, the same maxAgeMs rule.
import { readFileSync } from "node:fs";
import { MissingFeature, fillInputs, type StoredFeatures } from "../../shared/feature-inputs";
import { ExportFileError, parseExportHeader, parseExportRow, type ExportHeader } from "../../shared/feature-history";
import { bindingProblems, featureSize, parseBindings, resolveBindings, sameView, viewOf, type FeatureBinding } from "../../shared/features";
import type { TensorSpec } from "../../shared/manifest";
import type { InputPart } from "../../shared/onnx/split-input";
import { DatasetError } from "./types";

/** The input the examples' own features go to (the rest come from views). */
export const CALLER_INPUT = "features";


export class FeatureJoin {
  private constructor(
    readonly bindings: FeatureBinding[],
    /** The view-filled inputs, in order of first binding. */
    private readonly specs: TensorSpec[],
    /** Per view: entity → its values. */
    private readonly values: Map<string, Map<string, StoredFeatures[string]>>,
    /** The exports' time: the "now" of fillInputs. */
    readonly asOf: number,
  ) {}

  /**
   * Reads the bindings file and one export per view, and checks they agree; a binding that names
   * its view without the definition takes the export's.
   */
  static async open(featuresFile: string, exportFiles: readonly string[]): Promise<FeatureJoin> {
    const parsed = parseBindings(read(featuresFile));
    if (!parsed.ok) throw new DatasetError(`--features ${featuresFile}: ${parsed.error}`);
    const exports = new Map<string, { header: ExportHeader; file: string; rows: Map<string, StoredFeatures[string]> }>();
    for (const file of exportFiles) {
      const e = readExport(file);
      if (exports.has(e.header.view.name)) throw new DatasetError(`--feature-values: two exports of view "${e.header.view.name}" (${exports.get(e.header.view.name)!.file}, ${file})`);
      exports.set(e.header.view.name, { ...e, file });
    }
    const exportOf = (name: string) => {
      const e = exports.get(name);
      if (!e) throw new DatasetError(`--feature-values: no export of view "${name}" (write one with: meridian features export ${name} --as-of <time> --out <file>)`);
      return e;
    };
    const bindings = await resolveBindings(parsed.bindings, (name) => exportOf(name).header.view);
    for (const b of bindings) {
      if (b.input === CALLER_INPUT) throw new DatasetError(`--features: view "${b.name}" fills input "${CALLER_INPUT}", which holds the examples' own features: give the view's input another name`);
      for (const f of b.features) {
        if (f.datatype !== "FP32") throw new DatasetError(`--features: feature "${f.name}" of view "${b.name}" is ${f.datatype}; the trainer's models take FP32 inputs`);
      }
    }
    const specs: TensorSpec[] = [];
    for (const b of bindings) {
      if (specs.some((s) => s.name === b.input)) continue;
      const width = Math.max(...bindings.filter((x) => x.input === b.input).map((x) => (x.offset ?? 0) + x.features.reduce((n, f) => n + featureSize(f), 0)));
      specs.push({ name: b.input, datatype: "FP32", shape: [-1, width] });
    }
    const problems = bindingProblems(bindings, specs);
    if (problems.length > 0) throw new DatasetError(`--features: ${problems.join("; ")}`);

    let asOf: number | undefined;
    for (const b of bindings) {
      const e = exportOf(b.name);
      if (!sameView(e.header.view, viewOf(b))) throw new DatasetError(`--feature-values ${e.file}: view "${b.name}" was exported with another definition than --features gives`);
      if (asOf !== undefined && e.header.as_of_ms !== asOf) {
        throw new DatasetError(`--feature-values: the exports stand at different times (${new Date(asOf).toISOString()}, ${e.header.as_of} in ${e.file}): export every view --as-of the same time`);
      }
      asOf = e.header.as_of_ms;
    }
    const unused = [...exports.keys()].filter((v) => !bindings.some((b) => b.name === v));
    if (unused.length > 0) throw new DatasetError(`--feature-values: view${unused.length > 1 ? "s" : ""} ${unused.join(", ")} not in --features`);
    return new FeatureJoin(bindings, specs, new Map(bindings.map((b) => [b.name, exportOf(b.name).rows])), asOf!);
  }

  /** The model's inputs: the examples' own features first (when they have any), then the views'. */
  inputs(callerWidth: number): InputPart[] {
    const views = this.specs.map((s) => ({ name: s.name, width: s.shape[1]! }));
    return callerWidth > 0 ? [{ name: CALLER_INPUT, width: callerWidth }, ...views] : views;
  }

  /** Values the views add to each row. */
  get width(): number {
    return this.specs.reduce((n, s) => n + s.shape[1]!, 0);
  }

  /**
   * The entity's view inputs, concatenated in input order, into out[offset ..); a MissingFeature
   * (no usable value and no default) is returned, as the edge would refuse that request.
   */
  fill(entity: string, out: Float32Array, offset: number): MissingFeature | null {
    const stored: StoredFeatures = {};
    for (const b of this.bindings) {
      const v = this.values.get(b.name)!.get(entity);
      if (v) stored[b.name] = v;
    }
    let filled;
    try {
      filled = fillInputs(this.bindings, this.specs, stored, 1, this.asOf);
    } catch (err) {
      if (err instanceof MissingFeature) return err;
      throw err;
    }
    let at = offset;
    for (const spec of this.specs) {
      const data = filled.inputs.find((i) => i.name === spec.name)!.data as number[];
      out.set(data, at);
      at += data.length;
    }
    return null;
  }
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new DatasetError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** An export file: its header and entity → values. */
function readExport(file: string): { header: ExportHeader; rows: Map<string, StoredFeatures[string]> } {
  const lines = read(file).split(/\r?\n/);
  try {
    const header = parseExportHeader(lines[0] ?? "", `${file}:1`);
    const rows = new Map<string, StoredFeatures[string]>();
    lines.forEach((line, i) => {
      if (i === 0 || line.trim() === "") return;
      const row = parseExportRow(line, header, `${file}:${i + 1}`);
      rows.set(row.entity_id, row.features);
    });
    return { header, rows };
  } catch (err) {
    if (err instanceof ExportFileError) throw new DatasetError(err.message);
    throw err;
  }
}
