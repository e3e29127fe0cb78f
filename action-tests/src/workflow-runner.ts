import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { runActionBundle, type StepResult } from './bundles.js';
import { REPO_ROOT } from './proving-ground/index.js';

/**
 * Runs a reusable workflow of this repository the way GitHub would, job by job in `needs`
 * order, on this machine: `uses: $/actions/x` steps run the committed bundle of actions/x with
 * INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_STATE as the runner sets them; `run:`
 * steps run in bash. Job and step `if:` are evaluated (a step's default is success(); a job
 * whose approval was rejected runs no step). Expressions support what the workflow uses:
 * contexts (inputs, secrets, needs, steps with outputs and outcome, github.run_id/event_name and
 * whatever `github` adds), literals, ==, !=, &&, ||, !, parentheses, always()/success()/failure()
 * and the string functions startsWith/endsWith/contains.
 */

type Value = string | number | boolean | null | Record<string, unknown>;

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  if?: string;
}

interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string;
  outputs?: Record<string, string>;
  steps: Step[];
}

export interface JobRun {
  result: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  steps: {
    id: string;
    name: string;
    /** A third-party action not run here (artifact uploads), with its evaluated inputs. */
    skipped?: { uses: string; with: Record<string, string> };
    result: StepResult | { code: number; stdout: string; stderr: string };
  }[];
  /** Why it failed before any step (a rejected approval). */
  note?: string;
}

export interface WorkflowRunOptions {
  inputs: Record<string, Value>;
  secrets: Record<string, string>;
  /** Extra environment every step sees (what the runner machine has). */
  env?: NodeJS.ProcessEnv;
  /** Answers the environment gate of a job: approve or reject. */
  approve?: (job: string, environment: string) => boolean;
  onStep?: (job: string, step: string, result: { code: number | null; stdout: string }) => void;
  /** The event that triggered the caller (`github.event_name`); workflow_dispatch by default. */
  eventName?: string;
  /** Keeps each action step's RUNNER_TEMP (its reports) in a fresh directory below this one. */
  runnerTemp?: string;
  /** More of the github context (api_url, repository, token), e.g. pointing at a fake API. */
  github?: Record<string, string>;
}

// ---- expressions -------------------------------------------------------------------------

type Token = { t: 'op' | 'str' | 'num' | 'id'; v: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length) {
        if (src[j] === "'" && src[j + 1] === "'") {
          s += "'";
          j += 2;
        } else if (src[j] === "'") break;
        else s += src[j++];
      }
      tokens.push({ t: 'str', v: s });
      i = j + 1;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9.]+/.exec(src.slice(i))![0];
      tokens.push({ t: 'num', v: m });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(src.slice(i))![0];
      tokens.push({ t: 'id', v: m });
      i += m.length;
    } else {
      const two = src.slice(i, i + 2);
      if (['==', '!=', '&&', '||'].includes(two)) {
        tokens.push({ t: 'op', v: two });
        i += 2;
      } else if ('()!,'.includes(c)) {
        tokens.push({ t: 'op', v: c });
        i++;
      } else throw new Error(`unsupported character '${c}' in expression: ${src}`);
    }
  }
  return tokens;
}

interface ExprContext {
  lookup(path: string): Value;
  /** success(): every need succeeded (a skipped one is not success); failure(): one failed. */
  status: { allSucceeded: boolean; anyFailed: boolean };
}

const truthy = (v: Value): boolean => v !== null && v !== false && v !== 0 && v !== '';

// GitHub's string functions compare case-insensitively.
const STRING_FUNCTIONS: Record<string, (a: string, b: string) => boolean> = {
  startswith: (a, b) => a.startsWith(b),
  endswith: (a, b) => a.endsWith(b),
  contains: (a, b) => a.includes(b),
};

export function evaluate(src: string, ctx: ExprContext): Value {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++]!;
  const primary = (): Value => {
    const tok = take();
    if (!tok) throw new Error(`unexpected end of expression: ${src}`);
    if (tok.t === 'str') return tok.v;
    if (tok.t === 'num') return Number(tok.v);
    if (tok.t === 'op' && tok.v === '(') {
      const v = or();
      take();
      return v;
    }
    if (tok.t === 'op' && tok.v === '!') return !truthy(primary());
    if (tok.t === 'id') {
      if (peek()?.v === '(') {
        take();
        const args: Value[] = [];
        while (peek() && peek()!.v !== ')') {
          args.push(or());
          if (peek()?.v === ',') take();
        }
        take();
        const fn = STRING_FUNCTIONS[tok.v.toLowerCase()];
        if (fn && args.length === 2) {
          const [a, b] = args.map((v) => String(v ?? '').toLowerCase());
          return fn(a!, b!);
        }
        if (tok.v === 'always') return true;
        if (tok.v === 'success') return ctx.status.allSucceeded;
        if (tok.v === 'failure') return ctx.status.anyFailed;
        if (tok.v === 'cancelled') return false;
        throw new Error(`unsupported function ${tok.v}()`);
      }
      if (tok.v === 'true') return true;
      if (tok.v === 'false') return false;
      if (tok.v === 'null') return null;
      return ctx.lookup(tok.v);
    }
    throw new Error(`unexpected '${tok.v}' in ${src}`);
  };
  const equality = (): Value => {
    let left = primary();
    while (peek()?.v === '==' || peek()?.v === '!=') {
      const op = take().v;
      const right = primary();
      const eq = String(left ?? '').toLowerCase() === String(right ?? '').toLowerCase();
      left = op === '==' ? eq : !eq;
    }
    return left;
  };
  const and = (): Value => {
    let left = equality();
    while (peek()?.v === '&&') {
      take();
      const right = equality();
      left = truthy(left) ? right : left;
    }
    return left;
  };
  const or = (): Value => {
    let left = and();
    while (peek()?.v === '||') {
      take();
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  };
  const value = or();
  if (pos !== tokens.length) throw new Error(`could not parse ${src}`);
  return value;
}

/** Substitutes `${{ … }}` in a string; a whole-string expression keeps its type. */
function interpolate(text: unknown, ctx: ExprContext): Value {
  if (typeof text !== 'string') return text as Value;
  // One expression and nothing else (not `${{ a }} ${{ b }}`): keeps its type.
  const whole = /^\$\{\{((?:(?!\}\})[\s\S])*)\}\}$/.exec(text.trim());
  if (whole) return evaluate(whole[1]!, ctx);
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, e: string) => String(evaluate(e, ctx) ?? ''));
}

// ---- the runner ----------------------------------------------------------------------------

function runBash(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-c', script], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export async function runWorkflow(
  file: string,
  o: WorkflowRunOptions,
): Promise<Record<string, JobRun>> {
  const wf = parse(await readFile(path.join(REPO_ROOT, '.github/workflows', file), 'utf8')) as {
    on: { workflow_call: { inputs: Record<string, { default?: Value }> } };
    jobs: Record<string, Job>;
  };
  const githubContext: Record<string, string> = {
    run_id: '1',
    event_name: o.eventName ?? 'workflow_dispatch',
    ...o.github,
  };
  const inputs: Record<string, Value> = {};
  for (const [k, spec] of Object.entries(wf.on.workflow_call.inputs))
    inputs[k] = o.inputs[k] ?? spec.default ?? '';
  const runs: Record<string, JobRun> = {};
  const pending = Object.keys(wf.jobs);
  for (let guard = 0; pending.length > 0 && guard < 100; guard++) {
    const name = pending.find((j) => [wf.jobs[j]!.needs ?? []].flat().every((n) => runs[n]));
    if (!name) throw new Error(`cyclic needs among ${pending.join(', ')}`);
    pending.splice(pending.indexOf(name), 1);
    const job = wf.jobs[name]!;
    const needs = [job.needs ?? []].flat();
    const steps: Record<string, { outputs: Record<string, string>; outcome?: string }> = {};
    const ctx: ExprContext = {
      status: {
        allSucceeded: needs.every((n) => runs[n]!.result === 'success'),
        anyFailed: needs.some((n) => runs[n]!.result === 'failure'),
      },
      lookup: (p) => {
        const [root, ...rest] = p.split('.');
        if (root === 'inputs') return inputs[rest.join('.')] ?? '';
        if (root === 'secrets') return o.secrets[rest.join('.')] ?? '';
        if (root === 'github') return githubContext[rest.join('.')] ?? '';
        if (root === 'needs') {
          const [job2, field, key] = rest;
          const r = runs[job2!];
          if (!r) return '';
          if (field === 'result') return r.result;
          return r.outputs[key!] ?? '';
        }
        if (root === 'steps') {
          const [id, field, key] = rest;
          if (field === 'outcome' || field === 'conclusion') return steps[id!]?.outcome ?? '';
          return steps[id!]?.outputs[key!] ?? '';
        }
        throw new Error(`unsupported context ${p}`);
      },
    };
    // Default `if: success()`: a failed or skipped need skips the job.
    const condition = job.if ?? 'success()';
    const usesStatus = /\b(always|failure|success|cancelled)\(\)/.test(condition);
    const needsOk = needs.every((n) => runs[n]!.result === 'success');
    const run =
      (usesStatus || needsOk) && truthy(evaluate(condition.replace(/^\$\{\{|\}\}$/g, ''), ctx));
    if (!run) {
      runs[name] = { result: 'skipped', outputs: {}, steps: [] };
      continue;
    }
    const jobRun: JobRun = { result: 'success', outputs: {}, steps: [] };
    runs[name] = jobRun;
    if (job.environment !== undefined) {
      const environment = String(interpolate(job.environment, ctx));
      if (!(o.approve?.(name, environment) ?? true)) {
        jobRun.result = 'failure';
        jobRun.note = `approval for environment ${environment} was rejected`;
      }
    }
    // A job whose approval was rejected runs no step at all, not even failure() steps.
    const rejected = jobRun.note !== undefined;
    for (const step of rejected ? [] : job.steps) {
      const id = step.id ?? `step${jobRun.steps.length}`;
      // A step's default is success(): it is skipped once a step failed; failure()/always() run.
      const stepCtx: ExprContext = {
        ...ctx,
        status: {
          allSucceeded: jobRun.result !== 'failure',
          anyFailed: jobRun.result === 'failure',
        },
      };
      const stepIf = (step.if ?? 'success()').replace(/^\$\{\{|\}\}$/g, '');
      const statusFn = /\b(always|failure|success|cancelled)\(\)/.test(stepIf);
      if (
        (!statusFn && jobRun.result === 'failure') ||
        !truthy(evaluate(statusFn ? stepIf : `success() && (${stepIf})`, stepCtx))
      )
        continue;
      const withValues: Record<string, string> = {};
      for (const [k, v] of Object.entries(step.with ?? {}))
        withValues[k] = String(interpolate(v, stepCtx) ?? '');
      const env: NodeJS.ProcessEnv = { ...o.env };
      for (const [k, v] of Object.entries(step.env ?? {}))
        env[k] = String(interpolate(v, stepCtx) ?? '');
      let result: StepResult | { code: number; stdout: string; stderr: string };
      if (step.uses?.startsWith('$/actions/')) {
        if (o.runnerTemp)
          env.RUNNER_TEMP = await mkdtemp(path.join(o.runnerTemp, `${name}-${id}-`));
        result = await runActionBundle(path.join(REPO_ROOT, step.uses.slice(2)), withValues, {
          env,
          timeoutMs: 600_000,
        });
        steps[id] = { outputs: (result as StepResult).outputs };
      } else if (step.uses) {
        // Third-party actions (artifact uploads) need GitHub's services; they are not run here.
        jobRun.steps.push({
          id,
          name: step.name ?? id,
          skipped: { uses: step.uses, with: withValues },
          result: { code: 0, stdout: `skipped locally: ${step.uses}`, stderr: '' },
        });
        continue;
      } else if (step.run) {
        result = await runBash(step.run, { PATH: process.env.PATH, ...env });
        steps[id] = { outputs: {} };
      } else {
        throw new Error(`step ${id} of ${name}: only $/actions/* and run: steps are supported`);
      }
      jobRun.steps.push({ id, name: step.name ?? id, result });
      steps[id]!.outcome = result.code === 0 ? 'success' : 'failure';
      o.onStep?.(name, step.name ?? id, result);
      if (result.code !== 0) jobRun.result = 'failure';
    }
    for (const [k, expr] of Object.entries(job.outputs ?? {}))
      jobRun.outputs[k] = String(interpolate(expr, ctx) ?? '');
  }
  return runs;
}
