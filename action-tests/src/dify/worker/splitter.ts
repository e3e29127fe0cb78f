export interface SegmentationRules {
  separator: string;
  maxTokens: number;
  removeExtraSpaces: boolean;
}

/** Reads `dataset_process_rules.rules` (JSON) the way IndexingRunner does, with its defaults. */
export function segmentationRules(
  mode: string | null,
  rulesJson: string | null,
): SegmentationRules {
  const rules = rulesJson
    ? (JSON.parse(rulesJson) as {
        pre_processing_rules?: { id: string; enabled: boolean }[];
        segmentation?: { separator?: string; delimiter?: string; max_tokens?: number };
      })
    : {};
  const seg = rules.segmentation ?? {};
  const custom = mode === 'custom' || mode === 'hierarchical';
  const separator = (custom ? seg.separator : seg.delimiter) ?? seg.separator ?? '\n';
  return {
    // the console sends "\\n" escaped; Dify unescapes it the same way
    separator: separator.replace(/\\n/g, '\n'),
    maxTokens: Math.max(50, seg.max_tokens ?? 500),
    removeExtraSpaces:
      rules.pre_processing_rules?.find((r) => r.id === 'remove_extra_spaces')?.enabled ?? true,
  };
}

/** CleanProcessor's `remove_extra_spaces`: 3+ newlines → 2, runs of blanks → one space. */
function clean(text: string, rules: SegmentationRules): string {
  let t = text.replaceAll('\u0000', '').replaceAll('\uFFFE', '');
  if (rules.removeExtraSpaces) {
    t = t
      .replace(/\n{3,}/g, '\n\n')
      .replace(/[\t\f\r\x20\u00a0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]{2,}/g, ' ');
  }
  return t;
}

/**
 * A stand-in for FixedRecursiveCharacterTextSplitter: split on the separator, merge pieces up
 * to `maxTokens` (counted as characters here: no tokenizer), hard-split oversized pieces.
 */
export function splitText(text: string, rules: SegmentationRules): string[] {
  const pieces = clean(text, rules)
    .split(rules.separator)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const out: string[] = [];
  let current = '';
  for (const piece of pieces) {
    for (let i = 0; i < piece.length; i += rules.maxTokens) {
      const part = piece.slice(i, i + rules.maxTokens);
      if (current && current.length + 1 + part.length > rules.maxTokens) {
        out.push(current);
        current = part;
      } else {
        current = current ? `${current}\n${part}` : part;
      }
    }
  }
  if (current) out.push(current);
  return out;
}
