export {
  BlockedError,
  CheckFailedError,
  classifyError,
  ConfigurationError,
  CouldNotCheckError,
  errorMessage,
  EXIT_CODE_TABLE,
  EXIT_CODES,
  type ClassifiedError,
  type Outcome,
} from './errors.js';
export {
  InputParser,
  maskSecret,
  parseInputs,
  type InputReader,
  type SecretMasker,
} from './inputs.js';
export { runAction, setOutputs } from './run.js';
export { actionLogger, escapeHtml, logUntrusted } from './untrusted.js';
export { table, writeSummary, type SummaryBuilder } from './summary.js';
export {
  KUBE_NAME,
  KubeInputs,
  S3Inputs,
  maskKubeconfig,
  parseKubeTarget,
  parseS3Target,
  type KubeTarget,
} from './targets.js';
/** The one format of sizes and durations (packages/common), for the actions' summaries. */
export { formatBytes, formatDuration } from '@dify-storage/common';
