import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';

/**
 * Addresses a tool driven by a language model must not reach by default: loopback, private networks,
 * link-local (cloud metadata lives at 169.254.169.254), carrier-grade NAT, "this network", multicast,
 * and their IPv6 forms (IPv4-mapped addresses are checked as IPv4).
 */
function privateRanges(): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
    ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv4');
  }
  for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) {
    list.addSubnet(net, prefix, 'ipv6');
  }
  return list;
}

export class DestinationGuard {
  readonly #blocked = privateRanges();
  readonly #allowPrivate: boolean;
  readonly #origins: readonly string[] | undefined;

  /**
   * @param allowOrigins exact origins (`https://api.example.com`) or host wildcards (`https://*.example.com`);
   *   undefined allows any origin (private addresses are still refused unless `allowPrivateNetwork`).
   */
  constructor(allowOrigins: readonly string[] | undefined, allowPrivateNetwork: boolean) {
    this.#allowPrivate = allowPrivateNetwork;
    this.#origins = allowOrigins?.map((o) => o.toLowerCase().replace(/\/+$/, ''));
  }

  /** True when `address` (v4 or v6) is in a refused range. */
  isBlocked(address: string): boolean {
    if (this.#allowPrivate) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.#blocked.check(mapped[1]!, 'ipv4');
    const family = isIP(address);
    if (family === 0) return true; // not an address at all: refuse rather than guess
    return this.#blocked.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** Before dispatch: the origin is allowed and, when the host is an IP literal, not a refused address. */
  check(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw forbidden(`Only http and https URLs are allowed, got ${url.protocol}`);
    }
    if (this.#origins !== undefined && !this.#origins.some((pattern) => matches(pattern, url))) {
      throw forbidden(`Origin ${url.origin} is not in the allow-list`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0 && this.isBlocked(host)) {
      throw forbidden(`${url.origin} is a private, loopback or link-local address; refused (allowPrivateNetwork is off)`);
    }
  }

  /**
   * A `dns.lookup` for undici's connector: names are resolved, then every address is checked, so a
   * public-looking name that resolves to 127.0.0.1 (DNS rebinding) is refused at connect time.
   */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const refused = addresses.find((a) => this.isBlocked(a.address));
      if (refused !== undefined) {
        return callback(Object.assign(forbidden(`${hostname} resolves to ${refused.address}, a private, loopback or link-local address; refused`), { errno: -1, syscall: 'lookup' }) as NodeJS.ErrnoException, []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}

function matches(pattern: string, url: URL): boolean {
  const origin = url.origin.toLowerCase();
  if (!pattern.includes('*')) return pattern === origin;
  const [scheme, rest] = pattern.split('://') as [string, string];
  if (`${scheme}:` !== url.protocol) return false;
  const suffix = rest.replace(/^\*\./, '');
  const host = url.host.toLowerCase();
  return host.endsWith(`.${suffix}`);
}

function forbidden(message: string): McpConcurrencyError {
  return new McpConcurrencyError('forbidden_destination', message);
}
