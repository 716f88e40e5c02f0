import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';
import { AddressPolicy, type NetworkInterfaces } from './address-policy.js';

/** `dns.lookup` with `{ all: true }`, callback style: what the guard resolves names with. */
export type LookupAll = (
  hostname: string,
  options: { readonly all: true; readonly family?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface DestinationGuardOptions {
  /**
   * Origins that may be called: exact (`https://api.example.com`) or a host wildcard
   * (`https://*.example.com`, subdomains only). @default any origin (addresses are still checked)
   */
  readonly allowOrigins?: readonly string[];
  /** Skip the address checks (loopback, private, the host's own addresses, ...): for tests and trusted setups only. @default false */
  readonly allowPrivateNetwork?: boolean;
  /** The host's interfaces, read on every check. @default os.networkInterfaces */
  readonly networkInterfaces?: NetworkInterfaces;
  /** Name resolution. @default dns.lookup */
  readonly lookup?: LookupAll;
}

/**
 * The SSRF guard for tools a language model drives: http(s) only, an optional origin allow-list, and
 * every address a name resolves to checked by `AddressPolicy` before a connection is made (at connect
 * time, through `lookup`, so DNS rebinding has no window).
 */
export class DestinationGuard {
  readonly #policy: AddressPolicy | undefined;
  readonly #origins: readonly string[] | undefined;
  readonly #resolve: LookupAll;

  constructor(options: DestinationGuardOptions = {}) {
    if (options.allowOrigins !== undefined && !Array.isArray(options.allowOrigins)) {
      throw invalidArgument('allowOrigins', 'an array of origins', options.allowOrigins);
    }
    this.#policy = options.allowPrivateNetwork === true ? undefined : new AddressPolicy(options.networkInterfaces);
    this.#origins = options.allowOrigins?.map((o) => o.toLowerCase().replace(/\/+$/, ''));
    this.#resolve = options.lookup ?? (dnsLookup as LookupAll);
  }

  /** Why `address` is refused, or `undefined` when it may be reached (always with `allowPrivateNetwork`). */
  refusal(address: string): string | undefined {
    return this.#policy?.refusal(address);
  }

  /** Before dispatch: the scheme, the allow-list and, when the host is an IP literal, the address. Throws `forbidden_destination`. */
  check(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw forbidden(`Only http and https URLs are allowed, got ${url.protocol}`);
    if (this.#origins !== undefined && !this.#origins.some((pattern) => matches(pattern, url))) {
      throw forbidden(`Origin ${url.origin} is not in the allow-list`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const why = this.refusal(host);
      if (why !== undefined) throw forbidden(`${url.origin} is ${why}; refused (allowPrivateNetwork is off)`);
    }
  }

  /** Resolves `hostname` and checks every address; rejects with `forbidden_destination` if any is refused. */
  resolve(hostname: string): Promise<LookupAddress[]> {
    return new Promise((resolve, reject) => {
      this.lookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses as LookupAddress[])));
    });
  }

  /**
   * A `dns.lookup` for undici's connector: the name is resolved, then every address is checked, so a
   * public-looking name that resolves to 127.0.0.1 is refused at connect time.
   */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const host = hostname.replace(/^\[|\]$/g, '');
    this.#resolve(host, { all: true, family: options.family === undefined ? undefined : Number(options.family) }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const why = this.refusal(address);
        if (why !== undefined) {
          const refused = forbidden(`${host} resolves to ${address}, ${why}; refused (allowPrivateNetwork is off)`);
          return callback(Object.assign(refused, { errno: -1, syscall: 'lookup' }) as NodeJS.ErrnoException, []);
        }
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (first === undefined) return callback(Object.assign(forbidden(`${host} resolves to no address`), { errno: -1, syscall: 'lookup' }) as NodeJS.ErrnoException, []);
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
  return url.host.toLowerCase().endsWith(`.${suffix}`);
}

function forbidden(message: string): McpConcurrencyError {
  return new McpConcurrencyError('forbidden_destination', message);
}
