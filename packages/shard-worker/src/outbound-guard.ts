import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { isBlockedAddress } from './ip-ranges.js';
import { ADDRESS_NOT_ALLOWED, OutboundUrlError } from './outbound-url-error.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** A URL that passed the guard, with the addresses it was checked against. */
export interface CheckedUrl {
  url: URL;
  /** Every address the host resolved to; all of them passed (or the host is allowed). */
  addresses: ResolvedAddress[];
  /** True when the host was exempted by `allowedHosts`. */
  allowed: boolean;
}

/** Resolves a host name to every address; injectable so tests need no DNS server. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function isAllowed(url: URL, allowedHosts: readonly string[]): boolean {
  const host = url.host.toLowerCase();
  const hostname = stripBrackets(url.hostname.toLowerCase());
  return allowedHosts.some((entry) => {
    const e = entry.trim().toLowerCase();
    return e !== '' && (e === host || stripBrackets(e) === hostname);
  });
}

/**
 * Parses and checks an outbound URL: http/https only; the host is resolved and refused if
 * ANY of its addresses is loopback, private, CGNAT, link-local (169.254.169.254), IPv6
 * ULA/link-local/loopback/IPv4-mapped, unspecified or multicast. Hosts listed in
 * `allowedHosts` (`host` or `host:port`) are exempt. Connect to one of the returned
 * `addresses` (see `pinnedLookup`) so a DNS answer that changes after the check cannot
 * redirect the request (DNS rebinding).
 *
 * A private address and a name that does not resolve are refused alike, with the same
 * message ({@link ADDRESS_NOT_ALLOWED}): a caller must not tell an internal name from a
 * missing one. The error's `detail` says which, for the log.
 */
export async function checkOutboundUrl(
  raw: string,
  allowedHosts: readonly string[],
  resolve: Resolver = systemResolver,
): Promise<CheckedUrl> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new OutboundUrlError('invalid_url', `not a valid URL: ${JSON.stringify(raw)}`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OutboundUrlError('protocol', `only http and https are allowed, got ${url.protocol}`);
  }
  const allowed = isAllowed(url, allowedHosts);
  const hostname = stripBrackets(url.hostname);
  const literal = isIP(hostname);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(hostname);
    } catch (cause) {
      const why = cause instanceof Error ? `: ${cause.message}` : '';
      throw new OutboundUrlError('dns_failure', ADDRESS_NOT_ALLOWED, {
        cause,
        detail: `could not resolve ${hostname}${why}`,
      });
    }
    if (addresses.length === 0) {
      throw new OutboundUrlError('dns_failure', ADDRESS_NOT_ALLOWED, {
        detail: `${hostname} resolved to no address`,
      });
    }
  }
  if (!allowed) {
    const bad = addresses.find((a) => isBlockedAddress(a.address));
    if (bad) {
      throw new OutboundUrlError('private_address', ADDRESS_NOT_ALLOWED, {
        detail: `${hostname} resolves to ${bad.address}, a loopback, private or link-local address; add the host to the allowed hosts to permit it`,
      });
    }
  }
  return { url, addresses, allowed };
}

/** The guard as a yes/no: resolves when `url` may be requested, throws OutboundUrlError when not. */
export async function assertPublicUrl(url: string, allowedHosts: readonly string[]): Promise<void> {
  await checkOutboundUrl(url, allowedHosts);
}

/**
 * A `lookup` for http.request that answers with the addresses the guard already checked,
 * never asking DNS again: the connection goes where the check looked.
 */
export function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = typeof options === 'object' && options ? options.family : undefined;
    const usable = addresses.filter((a) => !wanted || a.family === wanted);
    const pool = usable.length > 0 ? usable : addresses;
    if (typeof options === 'object' && options?.all) {
      (callback as unknown as (e: null, a: readonly ResolvedAddress[]) => void)(null, pool);
      return;
    }
    const first = pool[0]!;
    callback(null, first.address, first.family);
  };
}
