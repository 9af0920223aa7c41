// Where a version's bytes live: R2, content-addressed by sha256 (the same bytes pushed under two
// names are stored once).
export const artifactKey = (sha256: string) => `artifacts/${sha256}`;
