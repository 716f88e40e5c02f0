import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/client';
import { connectUpstream } from './connect.js';

// A raw 2025-11-25 stdio server that writes a tool's last progress notification and its result in ONE write
// (one stdio read for the client): the case where the SDK client used to drop that notification.
const SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
const send = (...messages) => process.stdout.write(messages.map((m) => JSON.stringify({ jsonrpc: '2.0', ...m }) + '\\n').join(''));
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') send({ id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'raw', version: '1' } } });
  else if (m.method === 'tools/list') send({ id: m.id, result: { tools: [{ name: 'steps', inputSchema: { type: 'object' } }] } });
  else if (m.method === 'tools/call') {
    const progressToken = m.params._meta.progressToken;
    send(...[0, 50, 100].map((progress) => ({ method: 'notifications/progress', params: { progressToken, progress, total: 100 } })), { id: m.id, result: { content: [{ type: 'text', text: 'done' }] } });
  } else if (m.id !== undefined) send({ id: m.id, result: {} });
});
`;

let client: Client | undefined;
afterEach(async () => {
  await client?.close();
  client = undefined;
});

describe('connectUpstream over stdio', () => {
  it('hands the client every progress notification written before the result, even in the same read', async () => {
    client = await connectUpstream({ command: process.execPath, args: ['-e', SERVER] });
    for (let round = 0; round < 5; round++) {
      const seen: number[] = [];
      const result = await client.callTool({ name: 'steps', arguments: {} }, { onprogress: (p) => void seen.push(p.progress) });
      expect(result.content).toEqual([{ type: 'text', text: 'done' }]);
      expect(seen).toEqual([0, 50, 100]);
    }
  });
});
