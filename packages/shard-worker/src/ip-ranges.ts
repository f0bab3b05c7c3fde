import { isIP } from 'node:net';

/**
 * IPv4 ranges an outbound request must never reach: loopback, RFC 1918, CGNAT, link-local
 * (which holds the 169.254.169.254 cloud metadata endpoint), "this network", multicast,
 * reserved and broadcast, plus the IETF special-purpose blocks nobody serves the public from.
 */
const V4_BLOCKED: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

function v4ToInt(address: string): number {
  const parts = address.split('.').map(Number);
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

const V4_MASKS = V4_BLOCKED.map(([base, bits]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  // `>>> 0` keeps the base unsigned, like the value it is compared with (else 128.0.0.0+ never matches).
  return { base: (v4ToInt(base) & mask) >>> 0, mask };
});

function isBlockedV4(address: string): boolean {
  const value = v4ToInt(address);
  return V4_MASKS.some(({ base, mask }) => (value & mask) >>> 0 === base);
}

/** Expands an IPv6 literal (with optional embedded dotted IPv4 tail) to eight 16-bit groups. */
function v6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const tail = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (tail) {
    const v4 = v4ToInt(tail[1]!);
    text = `${text.slice(0, -tail[1]!.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const parsed = groups.map((g) => Number.parseInt(g, 16));
  return parsed.some((g) => Number.isNaN(g) || g < 0 || g > 0xffff) ? undefined : parsed;
}

function embeddedV4(high: number, low: number): string {
  return `${high >>> 8}.${high & 0xff}.${low >>> 8}.${low & 0xff}`;
}

function isBlockedV6(address: string): boolean {
  const g = v6Groups(address);
  if (!g) return true; // unparseable: refuse rather than guess
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, ...number[]];
  const zeroPrefix = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroPrefix && g5 === 0 && g6 === 0 && (g7 === 0 || g7 === 1)) return true; // :: and ::1
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): refused outright, since
  // stacks route them to IPv4 and they are a classic way around v4-only filters.
  if (zeroPrefix && (g5 === 0xffff || g5 === 0)) return true;
  if ((g0! & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((g0! & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((g0! & 0xffc0) === 0xfec0) return true; // fec0::/10 deprecated site-local
  if ((g0! & 0xff00) === 0xff00) return true; // ff00::/8 multicast
  if (g0 === 0x2001 && g1 === 0x0db8) return true; // documentation
  // Teredo (2001::/32) tunnels to an IPv4 server and client inside the address: a relay
  // would carry the request to whatever IPv4 host those bits name.
  if (g0 === 0x2001 && g1 === 0) return true;
  // Local-use NAT64 (64:ff9b:1::/48, RFC 8215): a site's own translator, whose IPv4 side and
  // embedding are its own choice, so no embedded address can be trusted to be public.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return true;
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return true; // discard-only
  // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address a gateway will reach.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return isBlockedV4(embeddedV4(g6!, g7!));
  }
  if (g0 === 0x2002) return isBlockedV4(embeddedV4(g1!, g2!));
  return false;
}

/**
 * True when `address` (an IP literal) is loopback, private, CGNAT, link-local, unspecified,
 * multicast, reserved, IPv6 ULA/link-local, IPv4-mapped/compatible, Teredo (2001::/32),
 * local-use NAT64 (64:ff9b:1::/48), or a NAT64/6to4 address embedding a blocked IPv4 one.
 * Anything that is not a valid IP literal is reported as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return isBlockedV4(address);
  if (family === 6) return isBlockedV6(address);
  return true;
}
