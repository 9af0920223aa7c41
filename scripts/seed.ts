// `npm run seed -- <url>`: publish the sample models to a running edge (e.g. a wrangler dev
// started by hand), with the local dev credentials.
import { devCredentials, seedModels } from "../dev/local";

const url = process.argv[2] ?? "http://127.0.0.1:8787";
await seedModels(url, await devCredentials(), (line) => console.log(line));
