import type { StageName, StageResult, VerifyReport } from './report.js';

const ICON = { pass: '✅ pass', fail: '❌ fail', skipped: '⏭️ skipped' } as const;

/**
 * The runbook's before/after data-flow table (section 4), each row backed by the stage of this
 * run that proves it.
 */
const FLOW: { step: string; before: string; after: string; stages: StageName[] }[] = [
  {
    step: '1. Upload',
    before: 'Browser → Nginx → dify-api pod',
    after: 'Unchanged',
    stages: ['dify-health'],
  },
  {
    step: '2. Receive and store',
    before: 'dify-api writes to the hostPath on its node',
    after: 'dify-api PUTs the object into the bucket; no local write',
    stages: ['workloads', 'write-path'],
  },
  {
    step: '3. Task to Redis',
    before: 'dify-api queues an indexing task (ids)',
    after: 'Unchanged: the task carries ids; the key resolves in the bucket',
    stages: ['database-references'],
  },
  {
    step: '4. Read and chunk',
    before: 'dify-worker reads the file from the shared hostPath',
    after: 'dify-worker downloads the object from the bucket',
    stages: ['worker-path', 'read-path'],
  },
  {
    step: '5. Embed',
    before: 'Worker computes vectors',
    after: 'Unchanged; not exercised (the probe indexes economy-style, needing no embedding model)',
    stages: [],
  },
  {
    step: '6. Store vectors',
    before: 'Worker writes to the vector store',
    after: 'Unchanged; the storage switch does not touch the vector store',
    stages: [],
  },
  {
    step: 'Stored data',
    before: 'Files on one node',
    after: 'Every file and every referenced key in the bucket, within latency',
    stages: ['stored-files', 'storage-latency'],
  },
];

function cell(stages: StageResult[], names: StageName[]): string {
  if (names.length === 0) return 'not part of the storage switch';
  return names
    .map((n) => stages.find((s) => s.stage === n))
    .filter((s): s is StageResult => s !== undefined)
    .map((s) => `${ICON[s.status]} ${s.stage}: ${s.summary} (${s.durationMs} ms)`)
    .join('<br>');
}

export function renderDataFlowTable(report: VerifyReport): string {
  const escape = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    '| stage | hostPath (before) | object storage (after) | evidence of this run |',
    '| --- | --- | --- | --- |',
    ...FLOW.map(
      (f) => `| ${f.step} | ${f.before} | ${f.after} | ${escape(cell(report.stages, f.stages))} |`,
    ),
  ];
  return lines.join('\n');
}

export function renderMermaid(report: VerifyReport): string {
  const status = (n: StageName) => report.stages.find((s) => s.stage === n)?.status ?? 'skipped';
  const node = (id: string, label: string, n: StageName) => `  ${id}["${label}"]:::${status(n)}`;
  return [
    'flowchart LR',
    node('W', 'Workloads on S3', 'workloads'),
    node('F', 'Stored files', 'stored-files'),
    node('D', 'DB references', 'database-references'),
    node('H', 'Dify /health', 'dify-health'),
    node('U', 'Write: upload → bucket', 'write-path'),
    node('R', 'Read: file-preview', 'read-path'),
    node('K', 'Worker: index from bucket', 'worker-path'),
    node('L', 'Storage latency', 'storage-latency'),
    '  W --> F --> D --> H --> U --> R --> K --> L',
    '  classDef pass fill:#d4f8d4,stroke:#2a7a2a',
    '  classDef fail fill:#f8d4d4,stroke:#a02020',
    '  classDef skipped fill:#eeeeee,stroke:#888888',
  ].join('\n');
}

/** A plain-text summary for the CLI and logs. */
export function renderText(report: VerifyReport): string {
  const width = Math.max(...report.stages.map((s) => s.stage.length));
  return [
    ...report.stages.map(
      (s) => `${s.status.toUpperCase().padEnd(7)} ${s.stage.padEnd(width)}  ${s.summary}`,
    ),
    `verdict: ${report.verdict}`,
  ].join('\n');
}
