import { describe, expect, it } from 'vitest';
import { helpText, hostPort, parseCommandLine } from './args.js';

const usageError = (argv: string[]): string => {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toMatchObject({ code: 'invalid_argument' });
    return (error as Error).message;
  }
  throw new Error(`${argv.join(' ')} parsed without an error`);
};

describe('the command line', () => {
  it('takes each command with its own options', () => {
    expect(parseCommandLine(['serve', '--config', 'a.yaml', '--http', '3000', '--metrics', '[::1]:9464'])).toEqual({
      kind: 'run',
      command: 'serve',
      config: 'a.yaml',
      http: { host: '127.0.0.1', port: 3000 },
      metrics: { host: '::1', port: 9464 },
    });
    expect(parseCommandLine(['proxy', '--config', 'p.yaml', '--', 'node', 'server.js', '--flag'])).toMatchObject({
      command: 'proxy',
      upstream: { command: 'node', args: ['server.js', '--flag'] },
    });
    expect(parseCommandLine(['proxy', '--config', 'p.yaml', '--upstream', 'http://127.0.0.1:4000/mcp'])).toMatchObject({ upstream: { url: 'http://127.0.0.1:4000/mcp' } });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['check', '--help'])).toEqual({ kind: 'help', command: 'check' });
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help' });
  });

  it('refuses what it cannot take, naming it, with a pointer to the help', () => {
    expect(usageError([])).toContain('A command is needed');
    expect(usageError(['launch'])).toContain('Unknown command "launch"');
    expect(usageError(['serve'])).toContain('serve needs --config FILE');
    expect(usageError(['check', '--config', 'a.yaml', '--http', '3000'])).toContain("Unknown option '--http'");
    expect(usageError(['check', '--config', 'a.yaml', 'extra'])).toContain('Unexpected argument "extra"');
    expect(usageError(['serve', '--config', 'a.yaml', '--', 'node'])).toContain('Only proxy takes a command');
    expect(usageError(['proxy', '--config', 'p.yaml'])).toContain('proxy needs --upstream URL or -- COMMAND');
    expect(usageError(['proxy', '--config', 'p.yaml', '--upstream', 'file:///etc/passwd'])).toContain('--upstream expects an http:// or https:// URL');
    expect(usageError(['proxy', '--config', 'p.yaml', '--upstream', 'http://x', '--', 'node'])).toContain('not both');
    expect(usageError(['serve', '--config'])).toContain("Option '--config <value>' argument missing");
    expect(usageError(['launch'])).toContain('Run "mcp-concurrency --help"');
  });

  it('takes the HTTP session bounds (they override the config\'s server: section) and refuses bad ones', () => {
    expect(parseCommandLine(['serve', '--config', 'c.yaml', '--http', '0', '--max-sessions', '20', '--session-idle', '90s'])).toMatchObject({ maxSessions: 20, sessionIdleMs: 90_000 });
    expect(parseCommandLine(['proxy', '--config', 'c.yaml', '--http', '0', '--session-idle', '1500', '--upstream', 'http://127.0.0.1:1/mcp'])).toMatchObject({ sessionIdleMs: 1_500 });
    expect(parseCommandLine(['serve', '--config', 'c.yaml', '--http', '0'])).not.toHaveProperty('maxSessions');
    expect(usageError(['serve', '--config', 'c.yaml', '--http', '0', '--max-sessions', '0'])).toContain('--max-sessions expects a whole number from 1 to 100000, got "0"');
    expect(usageError(['serve', '--config', 'c.yaml', '--http', '0', '--max-sessions', '1e3'])).toContain('--max-sessions expects a whole number');
    expect(usageError(['serve', '--config', 'c.yaml', '--http', '0', '--session-idle', '10h'])).toContain('--session-idle expects a duration');
    expect(usageError(['serve', '--config', 'c.yaml', '--http', '0', '--session-idle', '0'])).toContain('--session-idle expects a duration');
    expect(usageError(['serve', '--config', 'c.yaml', '--max-sessions', '5'])).toContain('they need --http');
    expect(usageError(['check', '--config', 'c.yaml', '--max-sessions', '5'])).toContain("Unknown option '--max-sessions'");
  });

  it('checks HOST:PORT with a plain message', () => {
    expect(hostPort('0', '--http')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(hostPort('localhost:8080', '--http')).toEqual({ host: 'localhost', port: 8080 });
    expect(hostPort('0.0.0.0:65535', '--http')).toEqual({ host: '0.0.0.0', port: 65_535 });
    expect(() => hostPort('127.0.0.1:99999', '--http')).toThrow('--http: the port must be from 0 to 65535, got 99999');
    expect(() => hostPort('127.0.0.1:', '--http')).toThrow('--http expects HOST:PORT');
    expect(() => hostPort('::1:80', '--http')).toThrow('--http expects HOST:PORT');
    expect(() => hostPort('[nope]:80', '--http')).toThrow('"nope" is not an IP address or host name');
    expect(() => hostPort('bad_host!:80', '--metrics')).toThrow('--metrics');
    // Mistyped IPv4 addresses: a usage error (exit 2), not a host name that fails to resolve at listen (exit 1).
    for (const typo of ['999.1.1.1', '256.0.0.1', '1.2.3', '10.0.0.01', '8080']) {
      expect(() => hostPort(`${typo}:80`, '--http'), typo).toThrow(`--http: "${typo}" is not an IP address or host name`);
    }
    expect(hostPort('db1.internal:80', '--http')).toEqual({ host: 'db1.internal', port: 80 });
  });

  it('has help for each command that lists that command\'s options only', () => {
    expect(helpText('check')).toContain('--config FILE');
    expect(helpText('check')).not.toContain('--http');
    expect(helpText('proxy')).toContain('--upstream URL');
    expect(helpText('serve')).not.toContain('--upstream');
    expect(helpText()).toContain('Exit codes: 0 done, 1 a run-time failure, 2 a usage or configuration error.');
  });
});
