// The cold-start probe's first module (bench/cold-worker.ts imports it before the edge): module
// evaluation runs imports depth-first in order, so this line runs before any edge code.
export const isolateStartedAt = Date.now();
