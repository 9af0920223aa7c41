// A real Prometheus server for tests (Debian's `prometheus`), scraping one target with a bearer
// token, on a free port, with its config and TSDB in a temp dir removed by stop(). It runs under
// the reaper (dev/supervise.ts), so it also stops when the test process dies without stop().
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./local";
import { supervise } from "./supervise";

export interface PrometheusOptions {
  /** What to scrape: scheme, host and port are used; the path is always /metrics. */
  targetUrl: string;
  /** Sent as `Authorization: Bearer <token>` on every scrape. */
  token: string;
  scrapeIntervalS?: number;
  binary?: string;
  readyTimeoutMs?: number;
}

/** One sample of an instant vector. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  url: string;
  /** An instant query that yields one number (a scalar or a one-sample vector); undefined if the vector is empty. */
  query(promql: string): Promise<number | undefined>;
  /** An instant query's samples, with their labels. */
  samples(promql: string): Promise<Sample[]>;
  stop(): Promise<void>;
}

interface QueryResponse {
  status: "success" | "error";
  error?: string;
  data?:
    | { resultType: "vector"; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
    | { resultType: "scalar"; result: [number, string] };
}

export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  const target = new URL(opts.targetUrl);
  const interval = `${opts.scrapeIntervalS ?? 1}s`;
  const dir = mkdtempSync(join(tmpdir(), "meridian-prometheus-"));
  const config = join(dir, "prometheus.yml");
  // JSON is YAML: no quoting of the token to get wrong. The timeout is set too, since the default
  // (10 s) above a shorter interval is a config error.
  const yml = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    scrape_configs: [
      {
        job_name: "meridian",
        scheme: target.protocol.replace(":", ""),
        metrics_path: "/metrics",
        authorization: { type: "Bearer", credentials: opts.token },
        static_configs: [{ targets: [target.host] }],
      },
    ],
  };
  writeFileSync(config, JSON.stringify(yml, null, 2));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`];
  const server = supervise(opts.binary ?? "prometheus", args, { stdout: "ignore", graceMs: 5000 });
  const proc = server.process;
  // Only the tail, for error messages: Prometheus logs on every compaction.
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-16_384)));
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const exited = new Promise<never>((_, reject) =>
    proc.once("exit", (code, signal) =>
      reject(
        new Error(
          // The reaper exits 127 when it cannot spawn the command.
          code === 127
            ? `cannot start ${opts.binary ?? "prometheus"} (missing? apt-get install prometheus): ${stderr.trim()}`
            : `prometheus exited (${code ?? signal}):\n${stderr.trim()}`,
        ),
      ),
    ),
  );
  exited.catch(() => {});

  const until = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  const ready = async () => {
    while (Date.now() < until) {
      try {
        if ((await fetch(`${url}/-/ready`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`prometheus not ready after ${opts.readyTimeoutMs ?? 30_000} ms:\n${stderr.trim()}`);
  };
  try {
    await Promise.race([ready(), exited]);
  } catch (err) {
    await stop();
    throw err;
  }

  const samples = async (promql: string): Promise<Sample[]> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as QueryResponse;
    if (body.status !== "success" || !body.data) throw new Error(`query ${promql}: ${res.status} ${body.error ?? ""}`);
    // Values come as strings ("NaN", "+Inf" included), which Number() reads.
    if (body.data.resultType === "scalar") return [{ metric: {}, value: Number(body.data.result[1]) }];
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    samples,
    async query(promql) {
      const got = await samples(promql);
      if (got.length > 1) throw new Error(`query ${promql}: ${got.length} series, expected one`);
      return got[0]?.value;
    },
    stop,
  };
}
