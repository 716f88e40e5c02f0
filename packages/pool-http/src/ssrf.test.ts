import type { LookupAddress } from 'node:dns';
import { createServer } from 'node:http';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AddressPolicy } from './address-policy.js';
import { HttpClient } from './http-client.js';
import { DestinationGuard, type LookupAll } from './ssrf.js';

/** A host whose only interface has a public-looking address, as on a cloud VM with a public IP. */
const PUBLIC_HOST_ADDRESS = '203.0.114.7';
const fakeInterfaces = (): NodeJS.Dict<NetworkInterfaceInfo[]> => ({
  eth0: [
    { address: PUBLIC_HOST_ADDRESS, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:01', internal: false, cidr: `${PUBLIC_HOST_ADDRESS}/24` },
    { address: '2a01:4f8:1:2::7', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:01', internal: false, cidr: '2a01:4f8:1:2::7/64', scopeid: 0 },
  ],
});

/** Names answer from this table only: no query ever leaves the process. */
const names: Record<string, string[]> = {
  'public.test': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'rebind.test': ['93.184.215.14', '127.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  'self.test': [PUBLIC_HOST_ADDRESS],
  'mapped.test': ['::ffff:10.0.0.1'],
};
const stubLookup: LookupAll = (hostname, _options, callback) => {
  const addresses = names[hostname];
  if (addresses === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
  callback(null, addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
};

const policy = new AddressPolicy(fakeInterfaces);

describe('AddressPolicy: refused by category', () => {
  it.each([
    // The host's own interface addresses, whatever range they are in.
    ['own interface, IPv4', PUBLIC_HOST_ADDRESS, 'own interface'],
    ['own interface, IPv6', '2a01:4f8:1:2::7', 'own interface'],
    ['own interface, IPv4-mapped', `::ffff:${PUBLIC_HOST_ADDRESS}`, 'own interface'],
    ['own interface, NAT64', '64:ff9b::cb00:7207', 'own interface'],
    // IANA IPv4 special-purpose registry, not globally reachable.
    ['this network 0.0.0.0/8', '0.1.2.3', 'unspecified'],
    ['private 10/8', '10.1.2.3', 'private'],
    ['shared address space 100.64/10', '100.64.0.1', 'carrierGradeNat'],
    ['loopback 127/8', '127.0.0.2', 'loopback'],
    ['link local 169.254/16 (cloud metadata)', '169.254.169.254', 'linkLocal'],
    ['private 172.16/12', '172.31.255.1', 'private'],
    ['IETF protocol assignments 192.0.0/24', '192.0.0.8', 'reserved'],
    ['documentation 192.0.2/24', '192.0.2.10', 'reserved'],
    ['6to4 relay anycast 192.88.99/24', '192.88.99.1', 'reserved'],
    ['private 192.168/16', '192.168.1.1', 'private'],
    ['benchmarking 198.18/15', '198.19.0.1', 'reserved'],
    ['documentation 198.51.100/24', '198.51.100.1', 'reserved'],
    ['documentation 203.0.113/24', '203.0.113.1', 'reserved'],
    ['reserved 240/4', '250.1.2.3', 'reserved'],
    ['limited broadcast', '255.255.255.255', 'broadcast'],
    ['multicast 224/4', '239.1.1.1', 'multicast'],
    // IANA IPv6 special-purpose registry, not globally reachable.
    ['unspecified ::', '::', 'unspecified'],
    ['loopback ::1', '::1', 'loopback'],
    ['discard-only 100::/64', '100::1', 'discard'],
    ['IETF protocol assignments 2001::/23', '2001:100::1', 'reserved'],
    ['benchmarking 2001:2::/48', '2001:2::1', 'benchmarking'],
    ['deprecated ORCHID 2001:10::/28', '2001:10::1', 'deprecatedOrchid'],
    ['documentation 2001:db8::/32', '2001:db8::1', 'reserved'],
    ['documentation 3fff::/20', '3fff::1', 'reserved'],
    ['segment routing 5f00::/16', '5f00::1', 'segmentRouting'],
    ['unique local fc00::/7', 'fd12:3456::1', 'uniqueLocal'],
    ['link local fe80::/10', 'fe80::1', 'linkLocal'],
    ['link local with a zone', 'fe80::1%eth0', 'linkLocal'],
    ['site local fec0::/10', 'fec0::1', 'deprecatedSiteLocal'],
    ['multicast ff00::/8', 'ff02::1', 'multicast'],
    ['unallocated, outside 2000::/3', '4000::1', 'global unicast'],
    // IPv6 forms that carry a refused IPv4 address.
    ['IPv4-mapped loopback', '::ffff:127.0.0.1', 'IPv4-mapped'],
    ['IPv4-mapped metadata, hex form', '::ffff:a9fe:a9fe', 'IPv4-mapped'],
    ['SIIT ::ffff:0:0/96', '::ffff:0:a00:1', 'SIIT'],
    ['NAT64 64:ff9b::/96 of loopback', '64:ff9b::7f00:1', 'NAT64'],
    ['local-use NAT64 64:ff9b:1::/48', '64:ff9b:1::5db8:d70e', 'local-use NAT64'],
    ['IPv4-compatible ::a.b.c.d', '::7f00:1', 'IPv4-compatible'],
    ['IPv4-compatible of a public address', '::5db8:d70e', 'IPv4-compatible'],
    ['6to4 of private 192.168.1.1', '2002:c0a8:101::1', '6to4'],
    ['Teredo with a private client', `2001:0:5db8:d70e:0:0:${(0xc0a8 ^ 0xffff).toString(16)}:${(0x0101 ^ 0xffff).toString(16)}`, 'Teredo'],
    ['Teredo with a loopback server', '2001:0:7f00:1::1', 'Teredo'],
    ['not an address', 'example.com', 'not an IP address'],
  ])('%s: %s', (_, address, why) => {
    expect(policy.refusal(address)).toContain(why);
  });

  it.each([
    ['public IPv4', '93.184.215.14'],
    ['public IPv6', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    ['AS112, globally reachable', '192.175.48.1'],
    ['IPv4-mapped public', '::ffff:93.184.215.14'],
    ['NAT64 of a public address', '64:ff9b::5db8:d70e'],
    ['6to4 of a public address', '2002:5db8:d70e::1'],
    ['Teredo with public server and client', `2001:0:5db8:d70e:0:0:${(0x5db8 ^ 0xffff).toString(16)}:${(0xd70f ^ 0xffff).toString(16)}`],
  ])('allows %s: %s', (_, address) => {
    expect(policy.refusal(address)).toBeUndefined();
  });

  it('reads the real interfaces at run time: every address of this host is refused', () => {
    const real = new AddressPolicy();
    const addresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) expect(real.refusal(address), address).toBeDefined();
  });
});

describe('DestinationGuard: names are resolved (through a stub) and every address checked', () => {
  const guard = new DestinationGuard({ lookup: stubLookup, networkInterfaces: fakeInterfaces });

  it.each([
    ['rebind.test', '127.0.0.1'],
    ['metadata.test', '169.254.169.254'],
    ['self.test', PUBLIC_HOST_ADDRESS],
    ['mapped.test', '::ffff:10.0.0.1'],
  ])('refuses %s (resolves to %s)', async (name, address) => {
    await expect(guard.resolve(name)).rejects.toMatchObject({ code: 'forbidden_destination', message: expect.stringContaining(`resolves to ${address}`) });
  });

  it('lets a public name through, in the shapes undici asks for', async () => {
    expect((await guard.resolve('public.test')).map((a) => a.address)).toEqual(names['public.test']);
    const single = await new Promise<[string, number | undefined]>((resolve, reject) =>
      guard.lookup('public.test', {}, (error, address, family) => (error ? reject(error) : resolve([address as string, family]))),
    );
    expect(single).toEqual(['93.184.215.14', 4]);
  });

  it.each([
    ['http://127.0.0.1:9/', 'loopback'],
    ['http://0x7f.1:9/', 'loopback'],
    ['http://[::1]:9/', 'loopback'],
    ['http://[::ffff:127.0.0.1]:9/', 'IPv4-mapped'],
    ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    [`http://${PUBLIC_HOST_ADDRESS}/`, 'own interface'],
    ['file:///etc/passwd', 'Only http and https'],
  ])('refuses the literal %s before any connection', (url, why) => {
    expect(() => guard.check(new URL(url))).toThrow(why);
  });
});

describe('a server on this host\'s own interface address, listening on all interfaces', () => {
  const own = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal && i.family === 'IPv4');

  it.runIf(own.length > 0)('is refused over IPv4 and as an IPv4-mapped IPv6 address, and reached with allowPrivateNetwork', async () => {
    let hits = 0;
    const server = createServer((_, res) => {
      hits++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const { port } = server.address() as AddressInfo;
    const address = own[0]!.address;
    const client = new HttpClient();
    const trusted = new HttpClient({ allowPrivateNetwork: true });
    try {
      await expect(client.request(`http://${address}:${port}/`)).rejects.toMatchObject({ code: 'forbidden_destination' });
      await expect(client.request(`http://[::ffff:${address}]:${port}/`)).rejects.toMatchObject({ code: 'forbidden_destination' });
      expect(hits).toBe(0);
      expect((await trusted.request(`http://${address}:${port}/`)).status).toBe(200);
      expect(hits).toBe(1);
    } finally {
      await client.destroy();
      await trusted.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a name resolving to the host is refused at connect time (the stub answers, no outside query)', async () => {
    const client = new HttpClient({ lookup: (hostname, options, callback) => stubLookup(hostname === 'myself.test' ? 'rebind.test' : hostname, options, callback) });
    await expect(client.request('http://myself.test:9/')).rejects.toMatchObject({ code: 'forbidden_destination', message: expect.stringContaining('127.0.0.1') });
    await client.destroy();
  });
});
