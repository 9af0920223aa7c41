// Node-side scripts hand Miniflare's bindings (getPlatformProxy) to edge code; these are the
// binding types that code names, borrowed from workers-types without its global Request/Response.
type R2Bucket = import("@cloudflare/workers-types").R2Bucket;
type KVNamespace = import("@cloudflare/workers-types").KVNamespace;
type D1Database = import("@cloudflare/workers-types").D1Database;
