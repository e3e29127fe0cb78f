import { storagePathRefusal } from '@dify-storage/common';
import * as core from '@actions/core';
import { ConfigurationError } from './errors.js';

/** Reads the raw value of an input; the default reads `INPUT_<NAME>` the way the runner sets it. */
export type InputReader = (name: string) => string;

/** Hides a secret from later output; in a step, `core.setSecret`; on a terminal, nothing. */
export type SecretMasker = (value: string) => void;

const TRUE_VALUES = ['true', 'True', 'TRUE'];
const FALSE_VALUES = ['false', 'False', 'FALSE'];

interface Common {
  /** Value used when the input is empty. An input without a default is required. */
  default?: string;
}

/**
 * Parses every input of an action in one place. Problems are collected rather than thrown one
 * at a time, so a user with three mistakes learns about all three in one run.
 */
export class InputParser {
  private readonly problems: string[] = [];

  constructor(
    private readonly read: InputReader = (name) => core.getInput(name),
    private readonly masker: SecretMasker = maskSecret,
  ) {}

  /** Masks a value derived from the inputs (e.g. a credential found inside another input). */
  mask(value: string | undefined): void {
    if (value !== undefined) this.masker(value);
  }

  private raw(name: string, opts: Common): string | undefined {
    const value = this.read(name).trim();
    if (value !== '') return value;
    if (opts.default !== undefined) return opts.default;
    this.problems.push(`Input '${name}' is required but was not supplied.`);
    return undefined;
  }

  /** Records a problem found by a cross-input rule. */
  fail(message: string): void {
    this.problems.push(message);
  }

  string(name: string, opts: Common & { pattern?: RegExp; describe?: string } = {}): string {
    const value = this.raw(name, opts);
    if (value === undefined) return '';
    if (opts.pattern && !opts.pattern.test(value)) {
      this.problems.push(
        `Input '${name}' has the value '${value}', which is not ${opts.describe ?? `of the form ${opts.pattern}`}.`,
      );
    }
    return value;
  }

  /** An input that may be empty: returns undefined when it is. */
  optional(name: string): string | undefined {
    const value = this.read(name).trim();
    return value === '' ? undefined : value;
  }

  /**
   * The host's storage directory: absolute and never a system directory itself (`/`, `/etc`…,
   * after resolving symlinks; see storagePathRefusal). Checked here, before anything is read.
   */
  storagePath(name: string, opts: { required?: boolean } = {}): string | undefined {
    const value = opts.required ? this.string(name) : this.optional(name);
    if (!value) return value;
    const refusal = storagePathRefusal(value);
    if (refusal) this.problems.push(`Input '${name}' ${refusal}.`);
    return value;
  }

  /** A secret: masked in the log before anything else can print it. */
  secret(name: string, opts: { required?: boolean } = {}): string | undefined {
    const value = this.read(name).trim();
    if (value === '') {
      if (opts.required) this.problems.push(`Input '${name}' is required but was not supplied.`);
      return undefined;
    }
    this.mask(value);
    return value;
  }

  choice<T extends string>(name: string, allowed: readonly T[], opts: Common = {}): T {
    const value = this.raw(name, opts);
    if (value === undefined) return allowed[0] as T;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(
        `Input '${name}' has the value '${value}'; allowed values are: ${allowed.join(', ')}.`,
      );
      return allowed[0] as T;
    }
    return value as T;
  }

  integer(name: string, opts: Common & { min?: number; max?: number } = {}): number {
    const value = this.raw(name, opts);
    if (value === undefined) return opts.min ?? 0;
    const n = Number(value);
    const min = opts.min ?? Number.MIN_SAFE_INTEGER;
    const max = opts.max ?? Number.MAX_SAFE_INTEGER;
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(
        `Input '${name}' has the value '${value}'; it must be a whole number from ${min} to ${max}.`,
      );
      return opts.min ?? 0;
    }
    return n;
  }

  number(name: string, opts: Common & { min?: number; max?: number } = {}): number {
    const value = this.raw(name, opts);
    if (value === undefined) return opts.min ?? 0;
    const n = Number(value);
    const min = opts.min ?? -Infinity;
    const max = opts.max ?? Infinity;
    if (value === '' || !Number.isFinite(n) || n < min || n > max) {
      this.problems.push(
        `Input '${name}' has the value '${value}'; it must be a number from ${min} to ${max}.`,
      );
      return opts.min ?? 0;
    }
    return n;
  }

  /**
   * A rate in bytes per second: a number with an optional binary suffix K, M or G (`512K`,
   * `50M`, `1.5G`; `B`, `iB` and `/s` may follow), as rclone's --bwlimit; 0 means no limit.
   */
  bytesPerSecond(name: string, opts: Common = {}): number {
    const value = this.raw(name, opts);
    if (value === undefined) return 0;
    const m = /^(\d+(?:\.\d+)?)\s*(?:([KMG])(?:i?B)?|B)?(?:\/s)?$/i.exec(value);
    const n = m ? Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] ?? ' ').toUpperCase()) : NaN;
    if (!Number.isFinite(n) || (n > 0 && n < 1024)) {
      this.problems.push(
        `Input '${name}' has the value '${value}'; it must be 0 (no limit) or a rate of at least 1K, like 512K, 50M or 1G (bytes per second).`,
      );
      return 0;
    }
    return Math.floor(n);
  }

  /** YAML 1.2 core-schema booleans, as `core.getBooleanInput` accepts them. */
  boolean(name: string, opts: Common = {}): boolean {
    const value = this.raw(name, opts);
    if (value === undefined) return false;
    if (TRUE_VALUES.includes(value)) return true;
    if (FALSE_VALUES.includes(value)) return false;
    this.problems.push(
      `Input '${name}' has the value '${value}'; allowed values are: true, false.`,
    );
    return false;
  }

  /** One item per line or per comma; blank items are dropped. */
  list(name: string): string[] {
    return this.read(name)
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  url(name: string, opts: Common & { protocols?: string[] } = {}): string {
    const value = this.raw(name, opts);
    if (value === undefined) return '';
    const protocols = opts.protocols ?? ['http:', 'https:'];
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !protocols.includes(parsed.protocol)) {
      this.problems.push(
        `Input '${name}' has the value '${value}', which is not a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}.`,
      );
    } else if (parsed.username || parsed.password) {
      this.problems.push(
        `Input '${name}' must not carry credentials in the URL; pass them as secrets.`,
      );
    }
    return value;
  }

  /** Throws one ConfigurationError naming every problem found so far. */
  finish(): void {
    if (this.problems.length === 1) throw new ConfigurationError(this.problems[0]);
    if (this.problems.length > 1) {
      throw new ConfigurationError(
        `${this.problems.length} inputs are invalid:\n${this.problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }
  }
}

/** Parses all inputs with `build`, then fails with every problem at once. */
export function parseInputs<T>(
  build: (p: InputParser) => T,
  read?: InputReader,
  masker?: SecretMasker,
): T {
  const parser = new InputParser(read, masker);
  const result = build(parser);
  parser.finish();
  return result;
}

/**
 * Masks a secret in all later log lines. Values shorter than 4 characters are not masked:
 * masking them would garble every log line (the toolkit's own advice); they are refused as
 * credentials elsewhere.
 */
export function maskSecret(value: string): void {
  if (value.length < 4) return;
  core.setSecret(value);
}
