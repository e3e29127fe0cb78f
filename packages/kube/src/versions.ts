/**
 * Which Dify the cutover is about to change. Everything this suite knows about storage (keys,
 * OpenDAL paths, the S3 settings Dify reads, the database columns) is Dify 1.3.x
 * (dify-1.3.0-fidelity.md); another version may store or read files differently, so its api and
 * worker images are refused unless the operator names that version explicitly (`allow-version`).
 * The plugin daemon's version is reported, not checked.
 */
import type { Finding, InstallInspection, WorkloadInspection } from './inspect.js';
import type { Workload } from './types.js';

export const UNSUPPORTED_VERSION = 'unsupported-version';

/** `repo/name:tag` → tag (none for a digest-only or untagged image). */
export function imageTag(image: string): string | undefined {
  const withoutDigest = image.split('@')[0]!;
  const last = withoutDigest.split('/').pop()!;
  const colon = last.indexOf(':');
  return colon < 0 ? undefined : last.slice(colon + 1);
}

function imageName(image: string): string {
  return image.split('@')[0]!.split('/').pop()!.split(':')[0]!;
}

const SUPPORTED = /^v?1\.3(\.\d+)?([-+.][0-9A-Za-z.-]*)?$/;

function containersOf(w: Workload | undefined) {
  const spec = w?.spec?.template?.spec;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

function workloadFindings(w: WorkloadInspection, allowed: string[]): Finding[] {
  // Only what the cutover is about to convert; a Deployment already converted is not touched.
  const images = containersOf(w.statefulSet)
    .map((c) => c.image ?? '')
    .filter((i) => imageName(i) === 'dify-api');
  const out: Finding[] = [];
  for (const image of new Set(images)) {
    const tag = imageTag(image);
    if (tag && SUPPORTED.test(tag)) continue;
    if (tag && allowed.includes(tag)) {
      out.push({
        code: 'allowed-version',
        severity: 'warning',
        message: `"${w.name}" runs ${image}: not Dify 1.3.x, allowed by allow-version ${tag}. The storage facts this tool relies on are those of 1.3.x; verify carefully.`,
      });
      continue;
    }
    out.push({
      code: UNSUPPORTED_VERSION,
      severity: 'blocker',
      message: `"${w.name}" runs ${image}: ${tag ? `version ${tag} is not Dify 1.3.x` : 'the image names no version tag'}, and the storage facts this tool relies on (keys, OpenDAL paths, S3 settings) are those of 1.3.x. Name the version in allow-version (e.g. ${tag ?? '<tag>'}) to go ahead anyway.`,
    });
  }
  return out;
}

/** Version findings: api/worker images must be Dify 1.3.x unless allowed; the plugin daemon's version is reported. */
export function versionFindings(inspection: InstallInspection, allowed: string[] = []): Finding[] {
  const out = [inspection.api, inspection.worker].flatMap((w) => workloadFindings(w, allowed));
  for (const w of inspection.others.workloads) {
    for (const c of containersOf(w)) {
      if (!/dify-plugin-daemon/.test(c.image ?? '')) continue;
      out.push({
        code: 'plugin-daemon-version',
        severity: 'info',
        message: `Plugin daemon ${w.kind}/${w.metadata?.name} runs ${c.image} (version ${imageTag(c.image ?? '') ?? 'unknown'}).`,
      });
    }
  }
  return out;
}
