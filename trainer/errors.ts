// A command used wrongly (a flag combination, a missing setting): its message is the whole story.
export class UsageError extends Error {
  override name = "UsageError";
}
