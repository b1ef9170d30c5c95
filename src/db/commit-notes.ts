// Which organizations a transaction appended events for, told to listeners once it committed:
// the feed's long-poll and the webhook worker wake on it (src/events/event-signal.ts) instead
// of polling. Kept beside the transaction object (a WeakMap, nothing to clean up), so the
// write path pays one map lookup per event and the notice can never precede the commit.
const noted = new WeakMap<object, Set<string>>();

/** Notes, inside `tx`, that it wrote an event of `organizationId`. */
export function noteEvent(tx: object, organizationId: string): void {
  const orgs = noted.get(tx);
  if (orgs === undefined) noted.set(tx, new Set([organizationId]));
  else orgs.add(organizationId);
}

/** What `tx` noted (once: the notes are taken), or undefined. */
export function takeNotes(tx: object): ReadonlySet<string> | undefined {
  const orgs = noted.get(tx);
  if (orgs !== undefined) noted.delete(tx);
  return orgs;
}

export type CommitListener = (organizationIds: ReadonlySet<string>) => void;
