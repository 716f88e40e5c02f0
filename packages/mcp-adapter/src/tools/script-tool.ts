import { spawn } from 'node:child_process';
import { McpConcurrencyError, type ToolContext } from '@mcp-concurrency/core-scheduler';
import {
  checkArguments,
  describeThrown,
  parametersSchema,
  type DescribedTool,
  type ParameterSpec,
} from '@mcp-concurrency/core-scheduler/plugin';
import type { ToolLog } from '../runtime.js';

export interface ScriptToolDefinition {
  readonly name: string;
  readonly description: string;
  /** The program; run directly, never through a shell. */
  readonly command: string;
  /** Its arguments; `{{name}}` is replaced by an argument's value, and each element stays one argv entry. */
  readonly args?: readonly string[];
  readonly cwd?: string;
  /** Added to the server's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** `text`: stdout as is; `json`: stdout parsed, invalid JSON is an error. @default 'text' */
  readonly output?: 'text' | 'json';
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  /** Stdout past this kills the process: a clear error rather than unbounded memory. @default 1 MiB */
  readonly maxOutputBytes?: number;
  /** Between SIGTERM and SIGKILL when the call is cancelled or times out. @default 2_000 */
  readonly killGraceMs?: number;
}

const STDERR_TAIL = 2_048;
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/**
 * A tool backed by a program: the validated arguments go to its stdin as JSON and into `{{name}}`
 * placeholders in its argument array; its stdout is the result. A non-zero exit is a tool error with
 * the tail of stderr. Cancellation and deadlines kill the whole process group (the script and anything
 * it started), SIGTERM then SIGKILL.
 */
export function scriptTool(definition: ScriptToolDefinition): DescribedTool<Record<string, unknown>, unknown> {
  const parameters = definition.parameters ?? {};
  checkScriptArgs(definition.name, definition.args ?? [], parameters);
  const maxOutputBytes = definition.maxOutputBytes ?? 1024 * 1024;
  const killGraceMs = definition.killGraceMs ?? 2_000;
  return {
    name: definition.name,
    description: definition.description,
    inputSchema: parametersSchema(parameters),
    run: (params, ctx) => {
      const args = checkArguments(parameters, params);
      const argv = (definition.args ?? []).map((a) => a.replace(PLACEHOLDER, (_, name: string) => asText(args[name])));
      return runProcess(definition, argv, args, ctx, maxOutputBytes, killGraceMs);
    },
  };
}

/** Every `{{name}}` in a script's args is a declared parameter. Throws `config_error` naming the first that is not. */
export function checkScriptArgs(tool: string, args: readonly string[], parameters: Readonly<Record<string, ParameterSpec>>): void {
  for (const arg of args) {
    for (const [, name] of arg.matchAll(PLACEHOLDER)) {
      if (!(name! in parameters)) throw new McpConcurrencyError('config_error', `Tool "${tool}": {{${name}}} in script.args is not a declared parameter`);
    }
  }
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Stderr lines sent to the client per call, and their length in characters. */
const MAX_LOG_LINES = 200;
const MAX_LOG_LINE = 1_000;

function runProcess(
  definition: ScriptToolDefinition,
  argv: string[],
  args: Record<string, unknown>,
  ctx: ToolContext & { readonly log?: ToolLog },
  maxOutputBytes: number,
  killGraceMs: number,
): Promise<unknown> {
  const signal = ctx.signal;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const child = spawn(definition.command, argv, {
      cwd: definition.cwd,
      env: { ...scriptEnvironment(), ...definition.env, MCP_TOOL_NAME: definition.name, MCP_CALL_ID: ctx.callId },
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a deadline kills what the script started too.
      detached: true,
      shell: false,
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrTail = '';
    let failure: McpConcurrencyError | undefined;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    const killGroup = (why: McpConcurrencyError): void => {
      failure ??= why;
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      killTimer ??= setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), killGraceMs);
    };
    const onAbort = (): void => killGroup(signal.reason instanceof McpConcurrencyError ? signal.reason : new McpConcurrencyError('cancelled', `${definition.name}: cancelled; the process was stopped`));
    signal.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxOutputBytes) {
        killGroup(new McpConcurrencyError('tool_error', `${definition.name}: printed more than ${maxOutputBytes} bytes; the process was stopped`));
        return;
      }
      stdout.push(chunk);
    });
    let partial = '';
    let logged = 0;
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderrTail = (stderrTail + text).slice(-STDERR_TAIL);
      if (ctx.log === undefined) return;
      // Each stderr line goes to the calling client as a log message (bounded: MAX_LOG_LINES of MAX_LOG_LINE chars).
      const lines = (partial + text).split('\n');
      partial = lines.pop()!.slice(0, MAX_LOG_LINE);
      for (const line of lines) if (line.trim() !== '' && logged++ < MAX_LOG_LINES) ctx.log('info', line.slice(0, MAX_LOG_LINE), definition.name);
    });
    child.stderr.once('end', () => {
      if (ctx.log !== undefined && partial.trim() !== '' && logged++ < MAX_LOG_LINES) ctx.log('info', partial, definition.name);
    });
    child.stdin.on('error', () => {
      // The script exited without reading its input: its exit status tells the story.
    });
    child.stdin.end(JSON.stringify(args));

    child.once('error', (error) => {
      failure ??= new McpConcurrencyError('tool_error', `${definition.name}: cannot start "${definition.command}": ${describeThrown(error)}`, { cause: error });
    });
    child.once('close', (code, killedBy) => {
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      // Anything the script left behind in its group goes too.
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      if (failure !== undefined) return reject(failure);
      if (code !== 0) {
        const how = code === null ? `was killed by ${killedBy}` : `exited with code ${code}`;
        const tail = stderrTail.trim();
        return reject(new McpConcurrencyError('tool_error', `${definition.name}: ${how}${tail ? `: ${tail}` : ''}`));
      }
      const text = Buffer.concat(stdout).toString('utf8');
      if (definition.output !== 'json') return resolve(text);
      try {
        resolve(JSON.parse(text) as unknown);
      } catch {
        reject(new McpConcurrencyError('tool_error', `${definition.name}: printed output that is not JSON (first bytes: ${JSON.stringify(text.slice(0, 80))})`));
      }
    });
  });
}

/** The server's environment without its own secrets (the HTTP bearer token): a script gets what the config gives it. */
export function scriptEnvironment(): NodeJS.ProcessEnv {
  const { MCP_CONCURRENCY_TOKEN: _token, ...rest } = process.env;
  return rest;
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}
