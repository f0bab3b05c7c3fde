import { describe, expect, it } from 'vitest';
import { createStreamTokenSigner, MAX_STREAM_TOKEN_TTL_MS } from '../src/auth/stream-token.js';
import { bearerToken, createTokenAuthenticator } from '../src/auth/token-authenticator.js';

const RUN = '2b0f6f4e-8d7a-4f43-9d0e-2f1b3c4d5e6f';
const OTHER = '7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e';

describe('bearer tokens', () => {
  const auth = createTokenAuthenticator([
    { workspace: 'a', token: 'token-a-0123456789' },
    { workspace: 'b', token: 'token-b-0123456789' },
  ]);
  it('resolves a token to its workspace and refuses near misses', () => {
    expect(auth('token-a-0123456789')).toBe('a');
    expect(auth('token-b-0123456789')).toBe('b');
    expect(auth('token-a-012345678')).toBeUndefined();
    expect(auth('token-a-0123456789 ')).toBeUndefined();
    expect(auth('')).toBeUndefined();
  });
  it('reads only well-formed Bearer headers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('stream tokens', () => {
  let now = 1_700_000_000_000;
  const signer = createStreamTokenSigner({ secret: 's'.repeat(32), now: () => now });

  it('are accepted for their run until they expire, at most 5 minutes', () => {
    const { token, expiresAt } = signer.sign(RUN, 'acme');
    expect(expiresAt.getTime() - now).toBe(MAX_STREAM_TOKEN_TTL_MS);
    expect(signer.verify(token, RUN)).toBe('acme');
    now += MAX_STREAM_TOKEN_TTL_MS;
    expect(signer.verify(token, RUN)).toBeUndefined();
  });

  it('are refused for another run, with another secret, or altered', () => {
    const { token } = signer.sign(RUN, 'acme');
    expect(signer.verify(token, OTHER)).toBeUndefined();
    expect(
      createStreamTokenSigner({ secret: 't'.repeat(32), now: () => now }).verify(token, RUN),
    ).toBeUndefined();
    expect(signer.verify(token.replace('v1.acme.', 'v1.evil.'), RUN)).toBeUndefined();
    const [v, ws, exp, sig] = token.split('.');
    expect(signer.verify([v, ws, String(Number(exp) + 1000), sig].join('.'), RUN)).toBeUndefined();
    expect(signer.verify('garbage', RUN)).toBeUndefined();
    // Every one-character change of the signature is refused, the last (spare-bit) one included.
    const sigStart = token.lastIndexOf('.') + 1;
    for (let i = sigStart; i < token.length; i++) {
      for (const c of ['A', 'B', 'C', 'D', '_']) {
        if (token[i] === c) continue;
        expect(signer.verify(token.slice(0, i) + c + token.slice(i + 1), RUN)).toBeUndefined();
      }
    }
  });

  it('never live longer than 5 minutes, whatever ttl is asked for', () => {
    const long = createStreamTokenSigner({
      secret: 's'.repeat(32),
      ttlMs: 3_600_000,
      now: () => now,
    });
    expect(long.sign(RUN, 'acme').expiresAt.getTime() - now).toBe(MAX_STREAM_TOKEN_TTL_MS);
  });
});
