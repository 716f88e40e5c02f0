// Started by the proxy (src/proxy/connect.ts) for a stdio upstream; a plain committed file, so the same
// path serves the built package and its sources under test.
/**
 * Runs an upstream MCP server (argv: COMMAND [ARGS...]) in a process group of its own, with this
 * process's stdio. A terminal's Ctrl-C sends SIGINT to its whole foreground group: without this the
 * upstream would die with the proxy's first Ctrl-C, failing the calls the proxy is still letting finish.
 * Here the terminal's SIGINT reaches this process (which ignores it) and the proxy alone; the upstream
 * stops when the proxy closes its stdin, or on SIGTERM / SIGHUP, which are passed on. Exits with the
 * upstream's code (128 + signal number when a signal ended it).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

// First of all: a Ctrl-C from here on is the proxy's to handle (Node's own start-up, before this line, is the
// only moment it still ends this process).
process.on('SIGINT', () => {});
const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write('own-process-group: give the upstream command to run\n');
  process.exit(2);
}
const child = spawn(command, args, { stdio: 'inherit', detached: true });
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => void child.kill(signal));
child.once('error', (error) => {
  process.stderr.write(`mcp-concurrency: cannot start the upstream "${command}": ${error.message}\n`);
  process.exit(127);
});
child.once('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128 + constants.signals[signal])));
