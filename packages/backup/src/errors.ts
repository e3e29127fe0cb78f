/**
 * A problem the operator can act on (a missing directory, too little free space, a wrong backup
 * id, an archive that does not match its manifest). Callers print only the message.
 */
export class BackupError extends Error {
  override readonly name: string = 'BackupError';
  constructor(
    message: string,
    /** Its class in the exit-code table (action-kit's classifyError). */
    readonly outcome: 'failed' | 'usage' | 'blocked' = 'failed',
  ) {
    super(message);
  }
}

/** One difference found while comparing an archive (or a restored tree) with its manifest. */
export interface BackupDifference {
  kind:
    | 'missing-from-archive'
    | 'not-in-manifest'
    | 'type-differs'
    | 'size-differs'
    | 'sha256-differs'
    | 'mode-differs'
    | 'mtime-differs'
    | 'out-of-order'
    | 'archive-sha256-differs'
    | 'manifest-sha256-differs'
    | 'archive-unreadable';
  path?: string;
  detail: string;
}

/**
 * The archive does not match its manifest or record. The message lists the first differences
 * and a count per kind; `differences` holds the same sample for programmatic use.
 */
export class BackupVerificationError extends BackupError {
  override readonly name = 'BackupVerificationError';
  constructor(
    readonly archivePath: string,
    readonly differences: readonly BackupDifference[],
    readonly countsByKind: Readonly<Record<string, number>>,
  ) {
    super(formatDifferences(archivePath, differences, countsByKind));
  }
}

function formatDifferences(
  archivePath: string,
  differences: readonly BackupDifference[],
  countsByKind: Readonly<Record<string, number>>,
): string {
  const total = Object.values(countsByKind).reduce((a, b) => a + b, 0);
  const kinds = Object.entries(countsByKind)
    .map(([kind, n]) => `${kind}: ${n}`)
    .join(', ');
  const lines = differences.map(
    (d) => `  - ${d.kind}${d.path !== undefined ? ` ${JSON.stringify(d.path)}` : ''}: ${d.detail}`,
  );
  const more = total > differences.length ? [`  … and ${total - differences.length} more`] : [];
  return [
    `Backup verification FAILED for ${archivePath}: ${total} difference(s) (${kinds}).`,
    ...lines,
    ...more,
  ].join('\n');
}

/** Collects differences, keeping the first `limit` and counting all of them per kind. */
export class DifferenceCollector {
  readonly sample: BackupDifference[] = [];
  readonly countsByKind: Record<string, number> = {};
  total = 0;
  constructor(private readonly limit = 20) {}

  add(difference: BackupDifference): void {
    this.total += 1;
    this.countsByKind[difference.kind] = (this.countsByKind[difference.kind] ?? 0) + 1;
    if (this.sample.length < this.limit) this.sample.push(difference);
  }

  throwIfAny(archivePath: string): void {
    if (this.total > 0)
      throw new BackupVerificationError(archivePath, this.sample, this.countsByKind);
  }
}

export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
