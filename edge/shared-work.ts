// Work one request starts and others in the isolate join (a model load, a KV read). Workers cancel
// a request with nothing pending of its own as hung, and drop its continuation when the request
// that settles a promise it awaits has ended. So a joining request never awaits the starter's
// promise: it keeps a timer of its own and looks at a field the starter's context sets.

type State<T> = { ok: true; value: T } | { ok: false; error: unknown };

const POLL_MS = 1;

export class SharedWork<T> {
  private state: State<T> | undefined;

  /** `work` must have been started by the current request: it is its owner. */
  constructor(readonly work: Promise<T>) {
    work.then(
      (value) => void (this.state = { ok: true, value }),
      (error: unknown) => void (this.state = { ok: false, error }),
    );
  }

  /** The outcome, for a request other than the owner (it waits on its own timers). */
  async join(): Promise<T> {
    while (this.state === undefined) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (this.state.ok) return this.state.value;
    throw this.state.error;
  }
}
