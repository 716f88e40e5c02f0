#!/usr/bin/env node
// A small JSON API for the get_stock tool of tools.yaml, on 127.0.0.1 (PORT, default 8787): GET /items/SKU
// answers after about 100 ms, and past 20 requests in a second it answers 429 with Retry-After, as a real
// API would. Stop it with Ctrl-C.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8787);
const LIMIT_PER_SECOND = 20;
const starts = [];
const catalog = new Map([
  ['A-100', { name: 'USB-C cable', stock: 120, price: 9.5 }],
  ['A-200', { name: 'Laptop stand', stock: 7, price: 39 }],
  ['B-300', { name: 'Desk lamp', stock: 0, price: 24.9 }],
]);

const server = createServer((req, res) => {
  const now = Date.now();
  while (starts.length > 0 && starts[0] <= now - 1_000) starts.shift();
  const send = (status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  if (starts.length >= LIMIT_PER_SECOND) return send(429, { error: 'rate limited' }, { 'retry-after': '1' });
  starts.push(now);
  const match = /^\/items\/([A-Za-z0-9-]{1,32})$/.exec(req.url ?? '');
  if (req.method !== 'GET' || !match) return send(404, { error: 'not found' });
  setTimeout(() => {
    const item = catalog.get(match[1]);
    if (item === undefined) send(404, { error: `no item ${match[1]}` });
    else send(200, { sku: match[1], ...item });
  }, 100);
});
server.once('error', (error) => {
  process.stderr.write(`inventory API: cannot listen on 127.0.0.1:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use (PORT=... picks another)' : error.message}\n`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stderr.write(`inventory API on http://127.0.0.1:${server.address().port}\n`));
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
