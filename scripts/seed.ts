// `npm run seed [stateDir]`: apply migrations and publish the sample models into local state.
import { DEFAULT_STATE, seed } from "./local";

await seed(process.argv[2] ?? DEFAULT_STATE, (line) => console.log(line));
