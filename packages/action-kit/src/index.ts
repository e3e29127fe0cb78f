export { CheckFailedError, ConfigurationError, errorMessage } from './errors.js';
export {
  InputParser,
  maskSecret,
  parseInputs,
  type InputReader,
  type SecretMasker,
} from './inputs.js';
export { runAction, setOutputs, type ErrorClass } from './run.js';
export {
  formatBytes,
  formatDuration,
  table,
  writeSummary,
  type SummaryBuilder,
} from './summary.js';
export {
  KUBE_NAME,
  KubeInputs,
  S3Inputs,
  maskKubeconfig,
  parseKubeTarget,
  parseS3Target,
  type KubeTarget,
  type S3Target,
} from './targets.js';
