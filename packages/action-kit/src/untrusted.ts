import { randomBytes } from 'node:crypto';
import * as core from '@actions/core';

/**
 * Text that carries names from the cluster, the bucket or the file tree. A file named
 * `x\n::set-output name=…::…` (or `::add-mask::`, `%0A`…) printed with core.info would start a
 * line the runner reads as a workflow command. Such text is printed between
 * `::stop-commands::<token>` and `::<token>::`, GitHub's documented way to print untrusted
 * output (docs: "Stopping and starting workflow commands"); other text is printed as is.
 */
export function logUntrusted(text: string): void {
  if (!/::|%0[ad]|\r/i.test(text)) {
    core.info(text);
    return;
  }
  const token = randomBytes(16).toString('hex');
  process.stdout.write(`::stop-commands::${token}\n`);
  core.info(text.replace(/\r/g, '\\r'));
  process.stdout.write(`::${token}::\n`);
}

/** The Logger of every action: info lines are untrusted text, warnings are escaped by the toolkit. */
export function actionLogger(): { info(line: string): void; warn(line: string): void } {
  return { info: logUntrusted, warn: (line) => core.warning(line) };
}

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '|': '&#124;',
};

/** For job summaries (HTML): a bucket key or file name cannot close a tag, open one, or break a table. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'|]/g, (c) => HTML_ENTITIES[c]!);
}
