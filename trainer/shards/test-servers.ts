// Real servers for the shard-store tests, started in-process and stopped by the caller: a static
// file server that honours single byte ranges (as a CDN or public R2 bucket does), and s3rver,
// a local S3-compatible server. Test support only.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, normalize, sep } from "node:path";
import S3rver from "s3rver";

export type Running = { url: string; stop(): Promise<void> };

const closeServer = (server: Server) =>
  new Promise<void>((resolve, reject) => {
    server.closeAllConnections();
    server.close((err) => (err ? reject(err) : resolve()));
  });

/** Serves `root` over HTTP. Paths under /no-range/ ignore Range headers (a server that does not honour them). */
export async function serveDirectory(root: string): Promise<Running> {
  const server = createServer((req, res) => {
    void (async () => {
      let path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const honoursRange = !path.startsWith("/no-range/");
      if (!honoursRange) path = path.slice("/no-range".length);
      const file = normalize(join(root, path));
      if (!file.startsWith(root + sep)) return void res.writeHead(403).end();
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch {
        return void res.writeHead(404).end();
      }
      const range = honoursRange ? req.headers.range : undefined;
      if (range === undefined) return void res.writeHead(200, { "content-length": data.length, "accept-ranges": "bytes" }).end(data);
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      let start = m?.[1] ? Number(m[1]) : NaN;
      let end = m?.[2] ? Number(m[2]) : data.length - 1;
      if (m && m[1] === "" && m[2]) {
        start = Math.max(0, data.length - Number(m[2])); // a suffix range: the last n bytes
        end = data.length - 1;
      }
      end = Math.min(end, data.length - 1);
      if (!(start >= 0 && start <= end)) return void res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${data.length}`, "content-length": end - start + 1 }).end(data.subarray(start, end + 1));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, stop: () => closeServer(server) };
}

export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/** s3rver on a free port with `buckets` created, its data in a temporary directory removed on stop(). */
export async function startS3rver(buckets: string[]): Promise<Running> {
  const directory = await mkdtemp(join(tmpdir(), "meridian-s3rver-"));
  const s3rver = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  const { port } = (await s3rver.run()) as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await s3rver.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
