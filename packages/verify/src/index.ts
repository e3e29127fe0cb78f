export { listBucket, type ListedObject } from './bucket.js';
export {
  checkReferences,
  formatReferenceTable,
  type KindCounts,
  type ReadBack,
  type ReferenceCheckOptions,
  type ReferenceProblem,
  type ReferenceReport,
} from './database-check.js';
export { renderDataFlowTable, renderMermaid, renderText } from './render.js';
export {
  STAGES,
  failedStages,
  verdictOf,
  type StageName,
  type StageResult,
  type StageStatus,
  type Verdict,
  type VerifyReport,
} from './report.js';
export { verifyDify, type VerifyOptions } from './verify.js';
