export interface JournalEntry {
  /** ISO time of the change. */
  at: string;
  action: 'created' | 'updated' | 'replaced' | 'deleted' | 'scaled' | 'annotated';
  kind: string;
  name: string;
  /** What changed, without secret values. */
  detail: string;
}

/**
 * The changes made so far, in order. Emitted as they happen and carried by errors, so the
 * summary and a rollback know what changed even when a step fails half way.
 */
export class Journal {
  readonly entries: JournalEntry[] = [];

  constructor(private readonly onEntry?: (entry: JournalEntry) => void) {}

  record(action: JournalEntry['action'], kind: string, name: string, detail: string): void {
    const entry: JournalEntry = { at: new Date().toISOString(), action, kind, name, detail };
    this.entries.push(entry);
    this.onEntry?.(entry);
  }

  get mutated(): boolean {
    return this.entries.length > 0;
  }
}

/** A failed operation with the list of changes it made before failing. */
export class JournaledError extends Error {
  override readonly name = 'JournaledError';
  readonly journal: JournalEntry[];

  constructor(message: string, journal: JournalEntry[], cause: unknown) {
    const made = journal.length
      ? `\nChanges made before the failure:\n${journal.map((e) => `  - ${e.action} ${e.kind}/${e.name}: ${e.detail}`).join('\n')}`
      : '\nNo change was made.';
    super(`${message}${made}`, { cause });
    this.journal = journal;
  }
}
