// A frozen copy of the whole project for one run, from which `wrangler dev` is started (its
// dev/local.ts is the copy's, so wrangler, its cwd and the Worker's code all live there).
// Started from the repo itself, `wrangler dev` rebuilds and restarts the Worker whenever esbuild
// sees a change in anything it looked at, and that includes the repo root's listing,
// package.json and tsconfig.json (reached from wrangler's own templates): other people's edits and
// test runs then fail the requests in flight with 503s ("worker restarted mid-request") and swap
// the code under test mid-run. node_modules is copied as hard links (a second or two).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = new URL("../..", import.meta.url).pathname;

export interface Snapshot {
  /** The copy's root: a project directory of its own. */
  root: string;
  /** "working tree" or the resolved commit. */
  source: string;
  /** Imports the first of these modules the copy has (older revisions kept the harness in scripts/). */
  load<T>(...paths: string[]): Promise<T>;
  remove(): void;
}

/** A copy of the working tree as it is now (rev null), or of a git revision. */
export function snapshot(rev: string | null): Snapshot {
  const root = mkdtempSync(join(tmpdir(), "meridian-fuzz-code-"));
  try {
    const source = rev === null ? copyWorkingTree(root) : extractRevision(rev, root);
    linkModules(join(ROOT, "node_modules"), join(root, "node_modules"));
    return {
      root,
      source,
      load: async <T>(...paths: string[]) => {
        const path = paths.find((p) => existsSync(join(root, p)));
        if (!path) throw new Error(`the copy has none of ${paths.join(", ")}`);
        return (await import(pathToFileURL(join(root, path)).href)) as T;
      },
      remove: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** Tracked and untracked files that git does not ignore (deleted ones are skipped). */
function copyWorkingTree(to: string): string {
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0");
  for (const f of files) {
    if (!f || !existsSync(join(ROOT, f))) continue;
    mkdirSync(dirname(join(to, f)), { recursive: true });
    cpSync(join(ROOT, f), join(to, f));
  }
  return "working tree";
}

function extractRevision(rev: string, to: string): string {
  const commit = execFileSync("git", ["rev-parse", "--verify", `${rev}^{commit}`], { cwd: ROOT, encoding: "utf8" }).trim();
  const tar = execFileSync("git", ["archive", "--format=tar", commit], { cwd: ROOT, maxBuffer: 1 << 30 });
  execFileSync("tar", ["-x", "-C", to], { input: tar });
  return commit;
}

/** Hard links where the file system allows them (same device), else a real copy. */
function linkModules(from: string, to: string): void {
  try {
    execFileSync("cp", ["-al", from, to]);
  } catch {
    rmSync(to, { recursive: true, force: true });
    cpSync(from, to, { recursive: true, verbatimSymlinks: true });
  }
}
