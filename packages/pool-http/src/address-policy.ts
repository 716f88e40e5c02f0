import { networkInterfaces as osNetworkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import ipaddr from 'ipaddr.js';

/** What `os.networkInterfaces()` returns; injected in tests. */
export type NetworkInterfaces = () => NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The only ranges a tool may reach by default, by ipaddr.js's name for them (its `range()` follows the
 * IANA IPv4 and IPv6 Special-Purpose Address Registries): ordinary unicast, and the special-purpose blocks
 * that the registries mark globally reachable and that are service addresses (AS112, AMT). Everything
 * else (loopback, private, CGNAT, link-local, documentation, benchmarking, reserved, multicast, discard,
 * ORCHID, segment routing, site-local, unique-local, ...) is refused.
 */
const ALLOWED_V4 = new Set(['unicast', 'as112', 'amt']);
const ALLOWED_V6 = new Set(['unicast', 'as112v6', 'amt']);
/** ipaddr.js names what is not special `unicast`; IANA allocates only 2000::/3 as global unicast (RFC 4291 2.4). */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];
/** RFC 6052: the well-known NAT64 prefix, with the IPv4 address in the last 32 bits. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96') as [ipaddr.IPv6, number];

/** Why an address is refused, or `undefined` when it may be reached. */
export type RefusalReason = string | undefined;

/**
 * Decides which IP addresses a tool may connect to: refuses the host's own interface addresses (found
 * at run time with `os.networkInterfaces()`, whatever range they are in), every special-purpose range
 * that is not globally reachable, and every IPv6 form that carries an IPv4 address (mapped, SIIT,
 * NAT64, 6to4, Teredo) when the carried address is refused. IPv4-compatible (`::a.b.c.d`, deprecated
 * by RFC 4291) and local-use NAT64 (`64:ff9b:1::/48`, RFC 8215) addresses are refused outright.
 */
export class AddressPolicy {
  readonly #interfaces: NetworkInterfaces;

  /** @param networkInterfaces the host's interfaces, read on every check. @default os.networkInterfaces */
  constructor(networkInterfaces: NetworkInterfaces = osNetworkInterfaces) {
    this.#interfaces = networkInterfaces;
  }

  /** Why `address` (IPv4 or IPv6 text, with or without a zone) is refused, or `undefined` when allowed. */
  refusal(address: string): RefusalReason {
    let parsed: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      parsed = ipaddr.parse(address);
    } catch {
      return 'not an IP address';
    }
    return this.#refusal(parsed, this.#ownAddresses());
  }

  #refusal(ip: ipaddr.IPv4 | ipaddr.IPv6, own: ReadonlySet<string>): RefusalReason {
    if (own.has(key(ip))) return "one of this host's own interface addresses";
    if (ip.kind() === 'ipv4') {
      const range = ip.range() as string;
      return ALLOWED_V4.has(range) ? undefined : `in a special-purpose IPv4 range (${range})`;
    }
    const v6 = ip as ipaddr.IPv6;
    const embedded = embeddedIPv4(v6);
    if (embedded !== undefined) {
      if (embedded.addresses.length === 0) return `an ${embedded.form} address, not globally reachable`;
      for (const inner of embedded.addresses) {
        const why = this.#refusal(inner, own);
        if (why !== undefined) return `an IPv6 form (${embedded.form}) of ${inner.toString()}, ${why}`;
      }
      return undefined;
    }
    const range = v6.range() as string;
    if (!ALLOWED_V6.has(range)) return `in a special-purpose IPv6 range (${range})`;
    if (range === 'unicast' && !v6.match(GLOBAL_UNICAST_V6)) return 'outside global unicast (2000::/3)';
    return undefined;
  }

  /** Normalized text of every interface address, read now: addresses change (DHCP, VPNs). */
  #ownAddresses(): Set<string> {
    const own = new Set<string>();
    for (const list of Object.values(this.#interfaces())) {
      for (const info of list ?? []) {
        try {
          own.add(key(ipaddr.parse(info.address)));
        } catch {
          // Not an address ipaddr.js reads: nothing to compare against.
        }
      }
    }
    return own;
  }
}

/** Comparable text without the IPv6 zone. */
function key(ip: ipaddr.IPv4 | ipaddr.IPv6): string {
  return ip.kind() === 'ipv4' ? ip.toString() : `${(ip as ipaddr.IPv6).toNormalizedString().replace(/%.*$/, '')}`;
}

function v4(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/**
 * The IPv4 addresses an IPv6 address carries, by its form; `undefined` when it carries none, an empty
 * list for a form that is refused whatever it carries.
 */
function embeddedIPv4(ip: ipaddr.IPv6): { form: string; addresses: ipaddr.IPv4[] } | undefined {
  const p = ip.parts;
  switch (ip.range() as string) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d (RFC 4291 2.5.5.2)
      return { form: 'IPv4-mapped', addresses: [ip.toIPv4Address()] };
    case 'rfc6145': // ::ffff:0:a.b.c.d (SIIT, RFC 6145)
      return { form: 'SIIT', addresses: [v4(p[6]!, p[7]!)] };
    case 'rfc6052':
      // 64:ff9b::/96 carries the address in its last 32 bits; 64:ff9b:1::/48 is local-use, refused below.
      return ip.match(NAT64_WELL_KNOWN) ? { form: 'NAT64', addresses: [v4(p[6]!, p[7]!)] } : { form: 'local-use NAT64', addresses: [] };
    case '6to4': // 2002:AABB:CCDD::/48 (RFC 3056)
      return { form: '6to4', addresses: [v4(p[1]!, p[2]!)] };
    case 'teredo': // 2001:0:server:server:flags:port:~client:~client (RFC 4380)
      return { form: 'Teredo', addresses: [v4(p[2]!, p[3]!), v4(p[6]! ^ 0xffff, p[7]! ^ 0xffff)] };
    default:
      // ::a.b.c.d, IPv4-compatible (deprecated, RFC 4291 2.5.5.1): refused whatever it carries.
      if (p.slice(0, 6).every((part) => part === 0) && (p[6] !== 0 || p[7]! > 1)) {
        return { form: 'IPv4-compatible', addresses: [] };
      }
      return undefined;
  }
}
