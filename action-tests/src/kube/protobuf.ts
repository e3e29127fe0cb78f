/**
 * Just enough of the Kubernetes protobuf wire format to accept what kubectl's imperative generators
 * send (`kubectl create namespace|configmap|secret generic`): the `k8s\0` envelope (runtime.Unknown)
 * around a Namespace, ConfigMap or Secret. Other kinds are refused with 415 by the caller.
 */
import type { Obj } from './json.js';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

type Field = { no: number; wire: number; value: bigint | Buffer };

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ no, wire, value: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const str = (f: Field): string => (f.value as Buffer).toString('utf8');

function map(fs: Field[], no: number, bytes: boolean): Record<string, string> | undefined {
  const entries = fs.filter((f) => f.no === no);
  if (entries.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const e of entries) {
    const kv = fields(e.value as Buffer);
    const k = kv.find((f) => f.no === 1);
    const v = kv.find((f) => f.no === 2);
    const value = v ? (v.value as Buffer) : Buffer.alloc(0);
    out[k ? str(k) : ''] = bytes ? value.toString('base64') : value.toString('utf8');
  }
  return out;
}

function objectMeta(buf: Buffer): Obj {
  const fs = fields(buf);
  const meta: Obj = {};
  const s = (no: number, key: string): void => {
    const f = fs.find((x) => x.no === no);
    if (f) meta[key] = str(f);
  };
  s(1, 'name');
  s(2, 'generateName');
  s(3, 'namespace');
  s(6, 'resourceVersion');
  const labels = map(fs, 11, false);
  if (labels) meta.labels = labels;
  const annotations = map(fs, 12, false);
  if (annotations) meta.annotations = annotations;
  const finalizers = fs.filter((f) => f.no === 14).map(str);
  if (finalizers.length) meta.finalizers = finalizers;
  return meta;
}

/** Decodes a protobuf request body into JSON; throws when it is not a kind this module knows. */
export function decodeKubeProtobuf(body: Buffer): Obj {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC))
    throw new Error('missing k8s protobuf envelope');
  const unknown = fields(body.subarray(4));
  const typeMeta = fields((unknown.find((f) => f.no === 1)?.value as Buffer) ?? Buffer.alloc(0));
  const apiVersion = typeMeta.find((f) => f.no === 1);
  const kind = typeMeta.find((f) => f.no === 2);
  const raw = unknown.find((f) => f.no === 2)?.value as Buffer | undefined;
  if (!kind || !raw) throw new Error('protobuf envelope without kind or raw object');
  const k = str(kind);
  const fs = fields(raw);
  const meta = fs.find((f) => f.no === 1);
  const o: Obj = {
    apiVersion: apiVersion ? str(apiVersion) : 'v1',
    kind: k,
    metadata: meta ? objectMeta(meta.value as Buffer) : {},
  };
  const bool = (no: number): boolean | undefined => {
    const f = fs.find((x) => x.no === no);
    return f ? (f.value as bigint) !== 0n : undefined;
  };
  switch (k) {
    case 'ConfigMap': {
      const data = map(fs, 2, false);
      const binaryData = map(fs, 3, true);
      if (data) o.data = data;
      if (binaryData) o.binaryData = binaryData;
      if (bool(4) !== undefined) o.immutable = bool(4);
      return o;
    }
    case 'Secret': {
      const data = map(fs, 2, true);
      const stringData = map(fs, 4, false);
      const type = fs.find((f) => f.no === 3);
      if (data) o.data = data;
      if (stringData) o.stringData = stringData;
      if (type) o.type = str(type);
      if (bool(5) !== undefined) o.immutable = bool(5);
      return o;
    }
    case 'Namespace':
      return o;
    default:
      throw new Error(`protobuf bodies of kind ${k} are not supported by the fake`);
  }
}
