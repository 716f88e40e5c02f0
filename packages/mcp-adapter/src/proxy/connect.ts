import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describeThrown } from '@mcp-concurrency/core-scheduler/plugin';
import { Client, StreamableHTTPClientTransport, type ClientCapabilities, type PriorDiscovery } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

/** How to reach an MCP server: a command over stdio, or a Streamable HTTP URL. */
export type UpstreamSpec =
  | { readonly command: string; readonly args?: readonly string[]; readonly env?: Readonly<Record<string, string>>; readonly cwd?: string }
  | { readonly url: string; readonly headers?: Readonly<Record<string, string>> };

export interface ConnectUpstreamOptions {
  /** The client name the upstream sees. @default 'mcp-concurrency' */
  readonly name?: string;
  /** What this client offers the upstream (sampling, elicitation, roots): the proxy mirrors its own client's. @default {} */
  readonly capabilities?: ClientCapabilities;
  /**
   * How the protocol revision is chosen: `'legacy'` (the 2025 `initialize`, no probe), `'auto'` (probe with
   * `server/discover`, fall back to `initialize`), or a known verdict from an earlier probe (no round trip).
   * @default 'auto' for a URL, 'legacy' for a command (a probe would spawn a second process)
   */
  readonly era?: 'legacy' | 'auto' | PriorDiscovery;
  /** Called with the client before it connects: the place to set request and notification handlers. */
  readonly beforeConnect?: (client: Client) => void;
}

/** Connects an SDK v2 `Client` to an upstream server; a failure is an `upstream_error` naming the server. */
export async function connectUpstream(spec: UpstreamSpec, options: ConnectUpstreamOptions | string = {}): Promise<Client> {
  const { name = 'mcp-concurrency', capabilities = {}, era = 'url' in spec ? 'auto' : 'legacy', beforeConnect } = typeof options === 'string' ? { name: options } : options;
  const mode = era === 'auto' ? 'auto' : 'legacy';
  const client = new Client({ name, version: '0.1.0' }, { capabilities, versionNegotiation: { mode } });
  beforeConnect?.(client);
  const transport =
    'url' in spec
      ? new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: { ...spec.headers } } })
      : new StdioClientTransport({
          command: spec.command,
          args: [...(spec.args ?? [])],
          cwd: spec.cwd,
          env: { ...(process.env as Record<string, string>), ...spec.env },
          stderr: 'inherit',
        });
  try {
    await client.connect(transport, typeof era === 'object' ? { prior: era } : undefined);
  } catch (error) {
    await client.close().catch(() => {});
    throw new McpConcurrencyError('upstream_error', `Cannot connect to the upstream MCP server (${'url' in spec ? spec.url : spec.command}): ${describeThrown(error)}`, { cause: error });
  }
  return client;
}

/** The verdict to hand later connections to the same upstream so that they skip the probe. */
export function priorOf(client: Client): PriorDiscovery {
  const discover = client.getDiscoverResult();
  return discover === undefined ? { kind: 'legacy' } : { kind: 'modern', discover };
}

/** `search_*`, `*`, `db.?` globs to a RegExp. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}
