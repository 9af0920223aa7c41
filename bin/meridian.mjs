#!/usr/bin/env node
// `meridian` bin: register tsx so the TypeScript sources run as they are, then hand over.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/meridian.ts");
await main(process.argv);
