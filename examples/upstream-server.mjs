#!/usr/bin/env node
// A small existing MCP server (stdio) for the proxy example: search_docs and get_document over a few
// documents, each call taking about 200 ms, as a real search backend would. policy.yaml puts a cap and a
// rate limit in front of it without changing it.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const docs = [
  { id: 'limits', title: 'Concurrency limits', text: 'A global cap, per-tool caps and per-key caps bound what runs at once.' },
  { id: 'rates', title: 'Rate limits', text: 'Token buckets hold burst + rate * t over every window, in process or on Redis.' },
  { id: 'cancel', title: 'Cancellation', text: 'A deadline or a client cancellation aborts the running call all the way down.' },
];

const pause = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

const server = new McpServer({ name: 'docs', version: '1.0.0' });
server.registerTool(
  'search_docs',
  { description: 'Search the documents; returns matching ids and titles', inputSchema: { query: z.string().min(1).max(200) } },
  async ({ query }, extra) => {
    await pause(200, extra.signal);
    const q = query.toLowerCase();
    const hits = docs.filter((d) => `${d.title} ${d.text}`.toLowerCase().includes(q)).map(({ id, title }) => ({ id, title }));
    return { content: [{ type: 'text', text: JSON.stringify(hits) }] };
  },
);
server.registerTool(
  'get_document',
  { description: 'One document by id', inputSchema: { id: z.string() } },
  async ({ id }, extra) => {
    await pause(200, extra.signal);
    const doc = docs.find((d) => d.id === id);
    return doc === undefined ? { isError: true, content: [{ type: 'text', text: `No document "${id}"` }] } : { content: [{ type: 'text', text: doc.text }] };
  },
);
await server.connect(new StdioServerTransport());
