import { checkPrimeSync, createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

export interface RsaKeyPair {
  /** PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), what PyCryptodome's `export_key()` writes. */
  privatePem: string;
  /** SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"), stored in `tenants.encrypt_public_key`. */
  publicPem: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

// PyCryptodome's PEM has no trailing newline; Node's has one.
const trimPem = (pem: string): string => pem.replace(/\n+$/, '');

/** `RSA.generate(2048)` of libs/rsa.py `generate_key_pair`. */
export async function generateRsaKeyPair(): Promise<RsaKeyPair> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return {
    privatePem: trimPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
    publicPem: trimPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

const SMALL_PRIMES: bigint[] = (() => {
  const out: bigint[] = [];
  for (let n = 3; out.length < 300; n += 2) {
    if (out.every((p) => n % Number(p) !== 0)) out.push(BigInt(n));
  }
  return out;
})();

const E = 65537n;

function toBigInt(buf: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(buf).toString('hex')}`);
}

function b64url(n: bigint): string {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex').toString('base64url');
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

function prime(bits: number, nextBytes: (n: number) => Uint8Array): bigint {
  for (;;) {
    const buf = nextBytes(bits / 8);
    buf[0]! |= 0xc0; // two top bits: the product has exactly 2*bits bits
    buf[buf.length - 1]! |= 1;
    let c = toBigInt(buf);
    for (let i = 0; i < 4096; i += 1, c += 2n) {
      if (SMALL_PRIMES.some((p) => c % p === 0n)) continue;
      if ((c - 1n) % E === 0n) continue;
      if (checkPrimeSync(c, { checks: 32 })) return c;
    }
  }
}

/**
 * A 2048-bit key pair derived only from `nextBytes` (a seeded generator), so a seeded install
 * has byte-identical `privkeys/…/private.pem` files on every run. The primality test is
 * OpenSSL's; only the candidate search is ours.
 */
export function deterministicRsaKeyPair(nextBytes: (n: number) => Uint8Array): RsaKeyPair {
  let p: bigint;
  let q: bigint;
  do {
    p = prime(1024, nextBytes);
    q = prime(1024, nextBytes);
  } while (p === q);
  if (p < q) [p, q] = [q, p];
  const n = p * q;
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  const d = modInverse(E, lambda);
  const jwk = {
    kty: 'RSA',
    n: b64url(n),
    e: b64url(E),
    d: b64url(d),
    p: b64url(p),
    q: b64url(q),
    dp: b64url(d % (p - 1n)),
    dq: b64url(d % (q - 1n)),
    qi: b64url(modInverse(q, p)),
  };
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  return {
    privatePem: trimPem(key.export({ type: 'pkcs1', format: 'pem' }).toString()),
    publicPem: trimPem(createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString()),
  };
}
