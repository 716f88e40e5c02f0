import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { ToolRuntime } from '../runtime.js';
import { createMcpServer } from './mcp-server.js';
import { serveHttp } from './serve.js';

describe('/metrics on the /mcp port', () => {
  it('needs the bearer token when one is set, like /mcp', async () => {
    const registry = new Registry();
    const runtime = await ToolRuntime.create(parseConfig('name: guarded\ntools: []\n', 'x.yaml', {}), { registry });
    const serving = await serveHttp(() => createMcpServer(runtime), { port: 0, token: 's3cret', registry });
    const metricsUrl = serving.url.replace('/mcp', '/metrics');
    try {
      const anonymous = await fetch(metricsUrl);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      expect(await anonymous.text()).not.toContain('mcp_');
      expect((await fetch(metricsUrl, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      const allowed = await fetch(metricsUrl, { headers: { authorization: 'Bearer s3cret' } });
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toContain('mcp_calls_total');
    } finally {
      await serving.close();
      await runtime.close();
    }
  });

  it('stays open without a token (loopback only by default)', async () => {
    const registry = new Registry();
    const runtime = await ToolRuntime.create(parseConfig('name: open\ntools: []\n', 'x.yaml', {}), { registry });
    const serving = await serveHttp(() => createMcpServer(runtime), { port: 0, registry });
    try {
      expect((await fetch(serving.url.replace('/mcp', '/metrics'))).status).toBe(200);
    } finally {
      await serving.close();
      await runtime.close();
    }
  });
});
