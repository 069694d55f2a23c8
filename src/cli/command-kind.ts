// Which command this process runs, for the loader of its bundle (scripts/bundle.mjs): a command
// leaves a code cache for its kind (its words) as it exits, when the cache it started with did not
// come from a run of the same variant (its words and the boolean flags it was given, `run detach`).
const COMMAND = Symbol.for('berth.command');

/** The words that named the command on the command line (`run`, `container cleanup`), and its flags. */
export function reportCommand(words: readonly string[], flags: Readonly<Record<string, unknown>> = {}): void {
  const kind = words.join('-');
  const set = Object.keys(flags).filter((name) => flags[name] === true);
  (globalThis as Record<symbol, unknown>)[COMMAND] = { kind, variant: [kind, ...set.sort()].join(' ') };
}
