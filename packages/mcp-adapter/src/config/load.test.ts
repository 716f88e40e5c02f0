import { McpConcurrencyError } from '@mcp-concurrency/core-scheduler';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';

/** The error a config gets, or a failed test when it has none. */
function errorOf(yaml: string, env: NodeJS.ProcessEnv = {}): McpConcurrencyError {
  try {
    parseConfig(yaml, 'x.yaml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(McpConcurrencyError);
    expect((error as McpConcurrencyError).code).toBe('config_error');
    return error as McpConcurrencyError;
  }
  throw new Error(`no config error for:\n${yaml}`);
}

const TOOL = 'name: x\ntools:\n  - name: t\n';

describe('YAML itself: every error at its real line and column', () => {
  it.each([
    ['an unterminated quote on line 4', 'name: x\ntools:\n  - name: a\n    description: "unterminated\n', 'x.yaml:4:18: invalid YAML: Missing closing "quote (it opens here)'],
    ['an unclosed flow sequence on line 4', 'name: x\ntools: []\nconcurrency:\n  max_parallel: [1, 2\n', 'x.yaml:4:17: invalid YAML: '],
    ['a bad indent mid-file', 'name: x\ntools: []\nconcurrency:\n  max_parallel: 2\n   thread_pool_size: 2\nversion: "1"\n', 'x.yaml:4:17: invalid YAML: Nested mappings'],
    ['an undefined alias', 'name: x\ntools:\n  - *nope\n', 'x.yaml:3:5: tools[0]: undefined alias *nope'],
    [
      'an alias bomb',
      'name: x\ntools: []\na: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
      'x.yaml:4:8: the aliases expand too far',
    ],
    ['deep flow nesting (a caught stack overflow before)', `name: x\ntools: []\nx: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`, 'nested too deeply'],
    ['nesting past the limit', `name: x\ntools: []\nx: ${'['.repeat(40)}${']'.repeat(40)}\n`, 'x.yaml:3:'],
  ])('%s', (_name, yaml, message) => {
    expect(errorOf(yaml).message).toContain(message);
  });

  it('deep nesting is reported at a real position, not 1:1', () => {
    const message = errorOf(`name: x\ntools: []\nx: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`).message;
    expect(message).toMatch(/^x\.yaml:3:\d+: /);
    expect(message).not.toContain('call stack');
  });
});

describe('${VAR} is filled in before validation', () => {
  it('redis_url: ${REDIS_URL}, as the README shows it, passes the schema', () => {
    const config = parseConfig('name: x\nconcurrency:\n  redis_url: ${REDIS_URL}\ntools: []\n', 'x.yaml', { REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('a plain ${VAR} takes its YAML type; a quoted one stays text', () => {
    const yaml = 'name: x\nconcurrency:\n  max_parallel: ${WORKERS}\ntools: []\nversion: "${WORKERS}"\n';
    const config = parseConfig(yaml, 'x.yaml', { WORKERS: '8' });
    expect(config.maxParallel).toBe(8);
    expect(config.version).toBe('8');
  });

  it('a value that is not YAML (a secret starting with *, [, &, !) is taken as text and never printed; a type mismatch says how to quote', () => {
    const block = 'name: x\nhttp:\n  allow_origins: ["http://127.0.0.1:9"]\n  allow_private_network: true\ntools:\n  - name: t\n    description: d\n    http:\n      url: "http://127.0.0.1:9/x"\n      headers:\n        authorization: ${N}\n';
    for (const secret of ['*tok', '[hunter2', '&anchor x', '!tag y', '{a', '0123', '1.2.3', 'a: b']) {
      expect((parseConfig(block, 'x.yaml', { N: secret }).tools[0]!.run as { headers?: Record<string, string> }).headers?.['authorization']).toBe(secret);
    }
    const typed = errorOf(block, { N: 'true' }).message;
    expect(typed).toMatch(/^x\.yaml:11:\d+: .*expected a string \(the value of \$\{N\} reads as a boolean: write "\$\{N\}", quoted, to keep it a string\)/);
    const notNumber = errorOf('name: x\nconcurrency:\n  max_parallel: ${N}\ntools: []\n', { N: 'SECRET-eight' }).message;
    expect(notNumber).toContain('(the value of ${N} is not one)');
    expect(notNumber).not.toContain('SECRET');
  });

  it('a value from the environment is validated like a written one, and never printed', () => {
    const message = errorOf('name: x\nconcurrency:\n  redis_url: ${REDIS_URL}\ntools: []\n', { REDIS_URL: 'http://secret-host' }).message;
    expect(message).toMatch(/^x\.yaml:3:14: concurrency\.redis_url: does not match/);
    expect(message).not.toContain('secret-host');
  });

  it('every missing variable of the file is in one error, a line each in file order, with its file:line:col', () => {
    const yaml = 'name: ${NAME}\ntools: []\nconcurrency:\n  redis_url: "redis://${REDIS_HOST}:${REDIS_PORT}"\n  max_parallel: ${SET}\n  max_queued: ${QUEUE}\n';
    expect(errorOf(yaml, { SET: '4' }).message).toBe(
      [
        'x.yaml:1:7: name: environment variable NAME is not set',
        'x.yaml:4:14: concurrency.redis_url: environment variable REDIS_HOST is not set',
        'x.yaml:4:14: concurrency.redis_url: environment variable REDIS_PORT is not set',
        'x.yaml:6:15: concurrency.max_queued: environment variable QUEUE is not set',
      ].join('\n'),
    );
  });

  it('a missing variable names itself and its file:line:col', () => {
    expect(errorOf('name: x\ntools: []\nconcurrency:\n  redis_url: ${NOT_SET}\n').message).toBe(
      'x.yaml:4:14: concurrency.redis_url: environment variable NOT_SET is not set',
    );
  });
});

describe('a `${` that is not a reference is an error, not kept as text', () => {
  it.each([
    ['spaces inside', 'name: x\ntools: []\nversion: "v ${ BAD }"\n', 'x.yaml:3:13: version: "${ BAD }" is not an environment reference'],
    ['a name starting with a digit', 'name: x\ntools: []\nconcurrency:\n  redis_url: redis://${1HOST}:6379\n', 'x.yaml:4:22: concurrency.redis_url: "${1HOST}" is not an environment reference'],
    ['a dash in the name', 'name: x\ntools: []\nversion: ${MY-VERSION}\n', 'x.yaml:3:10: version: "${MY-VERSION}"'],
    ['an unclosed reference', 'name: x\ntools: []\nversion: "${VERSION"\n', 'x.yaml:3:11: version: "${VERSION" is not an environment reference'],
    ['an empty one', 'name: x\ntools: []\nversion: "${}"\n', 'x.yaml:3:11: version: "${}"'],
  ])('%s', (_name, yaml, message) => {
    const error = errorOf(yaml, { BAD: 'b', VERSION: '1' });
    expect(error.message).toContain(message);
    expect(error.message).toContain('write ${NAME} with NAME matching [A-Za-z_][A-Za-z0-9_]*');
  });

  it('$${ is a literal ${, and a valid reference beside it is still filled in', () => {
    const config = parseConfig('name: x\ntools: []\nversion: "$${KEEP} ${V} $${ spaced }"\n', 'x.yaml', { V: '2', KEEP: 'no' });
    expect(config.version).toBe('${KEEP} 2 ${ spaced }');
  });
});

describe('an unknown key is reported at its own line and column', () => {
  it.each([
    ['at the top level', 'name: x\ntools: []\nconcurency: {}\n', 'x.yaml:3:1: concurency: unknown property "concurency"'],
    ['in a section', 'name: x\ntools: []\nconcurrency:\n  max_parallel: 2\n  max_paralel: 3\n', 'x.yaml:5:3: concurrency.max_paralel: unknown property "max_paralel"'],
    ['in a tool, after other keys', 'name: x\ntools:\n  - name: t\n    description: d\n    script: { command: echo, argz: [] }\n', 'x.yaml:5:30: tools[0].script.argz: unknown property "argz"'],
    ['with no value', 'name: x\ntools:\n  - name: t\n    script: { command: echo }\n    timeot:\n', 'x.yaml:5:5: tools[0].timeot: unknown property "timeot"'],
  ])('%s', (_name, yaml, message) => {
    expect(errorOf(yaml).message).toBe(message);
  });
});

describe('server: the Streamable HTTP sessions; proxy.resources_read / prompts_get', () => {
  it('takes the session cap and idle time, and leaves the defaults to serveHttp when absent', () => {
    expect(parseConfig('name: x\ntools: []\nserver: { max_sessions: 50, session_idle: 90s }\n', 'x.yaml', {}).server).toEqual({ maxSessions: 50, sessionIdleMs: 90_000 });
    expect(parseConfig('name: x\ntools: []\n', 'x.yaml', {}).server).toEqual({ maxSessions: undefined, sessionIdleMs: undefined });
    expect(parseConfig('name: x\ntools: []\nserver: { session_idle: 0.4 }\n', 'x.yaml', {}).server.sessionIdleMs).toBe(1); // whole ms, as serveHttp takes them
  });

  it.each([
    ['no sessions', 'server: { max_sessions: 0 }', 'x.yaml:3:25: server.max_sessions: expected a positive integer'],
    ['a cap past the ceiling', 'server: { max_sessions: 100001 }', 'server.max_sessions: expected at most 100000'],
    ['an idle time of 0', 'server: { session_idle: 0 }', 'server.session_idle: expected a duration'],
    ['an idle time past the longest timer', 'server: { session_idle: 999999m }', 'server.session_idle: expected a duration > 0 and at most 2147483647 ms'],
    ['a misspelt key', 'server: { max_session: 5 }', 'x.yaml:3:11: server.max_session: unknown property "max_session"'],
  ])('%s is an error at its line', (_name, section, message) => {
    expect(errorOf(`name: x\ntools: []\n${section}\n`).message).toContain(message);
  });

  it('proxy.resources_read and proxy.prompts_get are written like a proxy.tools rule, without match', () => {
    const yaml = 'name: x\ntools: []\nconcurrency:\n  rate_limits:\n    slow: { requests_per_second: 1 }\nproxy:\n  resources_read: { concurrency: { max_parallel: 4 }, timeout: 5s }\n  prompts_get: { rate_limit: slow }\n';
    expect(parseConfig(yaml, 'x.yaml', {}).proxyMethods).toEqual({
      'resources/read': { maxParallel: 4, rateLimit: undefined, timeoutMs: 5_000 },
      'prompts/get': { maxParallel: undefined, rateLimit: 'slow', timeoutMs: undefined },
    });
    expect(parseConfig('name: x\ntools: []\n', 'x.yaml', {}).proxyMethods).toEqual({});
  });

  it.each([
    ['an unknown rate limit', 'proxy:\n  prompts_get: { rate_limit: nope }', 'x.yaml:4:30: proxy.prompts_get.rate_limit: unknown rate limit "nope"'],
    ['a cap of 0', 'proxy:\n  resources_read: { concurrency: { max_parallel: 0 } }', 'proxy.resources_read.concurrency.max_parallel: expected a positive integer'],
    ['a retry (an upstream error is an answer, not retried)', 'proxy:\n  resources_read: { retry: 2 }', 'x.yaml:4:21: proxy.resources_read.retry: unknown property "retry"'],
    ['another method', 'proxy:\n  tools_list: { timeout: 1s }', 'proxy.tools_list: unknown property "tools_list"'],
  ])('%s is an error at its line', (_name, section, message) => {
    expect(errorOf(`name: x\ntools: []\n${section}\n`).message).toContain(message);
  });
});

describe('every number is checked for its range', () => {
  it.each([
    ['a huge max_parallel', 'name: x\ntools: []\nconcurrency:\n  max_parallel: 1e12\n', 'x.yaml:4:17: concurrency.max_parallel: expected at most 10000'],
    ['an infinite rate', 'name: x\ntools: []\nconcurrency:\n  rate_limits:\n    api: { requests_per_second: .inf }\n', 'requests_per_second: expected a finite number, got Infinity'],
    ['a NaN rate', 'name: x\ntools: []\nconcurrency:\n  rate_limits:\n    api: { requests_per_second: .nan }\n', 'x.yaml:5:33: concurrency.rate_limits.api.requests_per_second: expected a finite number, got NaN'],
    ['a burst below one call', 'name: x\ntools: []\nconcurrency:\n  rate_limits:\n    api: { requests_per_second: 5, burst_size: 0.5 }\n', 'burst_size: expected a number >= 1'],
    ['a timeout past the longest timer', 'name: x\ntools: []\nconcurrency:\n  timeout: 9999999999\n', 'concurrency.timeout: expected a duration'],
    ['a string timeout past the longest timer', 'name: x\ntools: []\nconcurrency:\n  timeout: 999999m\n', 'x.yaml:4:12: concurrency.timeout: expected a duration > 0 and at most 2147483647 ms'],
    ['a zero string timeout', `${TOOL}    timeout: 0s\n    script: { command: echo }\n`, 'tools[0].timeout: expected a duration > 0'],
    ['a retry delay past the longest timer', `${TOOL}    retry: { retries: 2, max_delay: 60000m }\n    annotations: { idempotentHint: true }\n    script: { command: echo }\n`, 'tools[0].retry.max_delay: expected a duration'],
    ['too many retries', `${TOOL}    retry: 1000\n    annotations: { idempotentHint: true }\n    script: { command: echo }\n`, 'tools[0].retry: '],
    ['a batch of a million', 'name: x\ntools: []\nbatch: { max_calls: 1000000 }\n', 'batch.max_calls: expected at most 1000'],
    ['a negative queue', 'name: x\ntools: []\nconcurrency:\n  max_queued: -1\n', 'max_queued: expected an integer >= 0'],
  ])('%s', (_name, yaml, message) => {
    expect(errorOf(yaml).message).toContain(message);
  });
});

describe('what serve refuses, check refuses: the tools\' own definition checks, with a location', () => {
  it.each([
    ['an undeclared {{placeholder}} in script.args', `${TOOL}    script: { command: echo, args: ["{{who}}"] }\n`, 'x.yaml:4:37: tools[0].script.args[0]: {{who}} in script.args is not a declared parameter'],
    ['a placeholder in an http URL\'s host', `${TOOL}    parameters: [{ name: h, type: string }]\n    http: { url: "https://{{h}}.example.com/x" }\n`, "tools[0].http.url: placeholders may not appear in the URL's scheme, host or port"],
    ['a placeholder in an http URL\'s port', `${TOOL}    parameters: [{ name: p, type: string }]\n    http: { url: "https://example.com:{{p}}/x" }\n`, "placeholders may not appear in the URL's scheme, host or port"],
    ['a file: URL', `${TOOL}    http: { url: "file:///etc/passwd" }\n`, 'x.yaml:4:18: tools[0].http.url: expected an http or https URL, got file:'],
    ['a relative URL', `${TOOL}    http: { url: "/x" }\n`, 'tools[0].http.url: expected an absolute http(s) URL'],
    ['an undeclared placeholder in an http body', `${TOOL}    http: { url: "https://example.com/x", body: { q: "{{q}}" } }\n`, 'tools[0].http.body: {{q}} is not a declared parameter'],
    ['an undeclared SQL placeholder', 'name: x\ndatabase: { url: "postgres://db/app" }\ntools:\n  - name: t\n    sql: { query: "SELECT :id" }\n', 'x.yaml:5:19: tools[0].sql.query: the query uses :id, which is not a declared parameter'],
    ['SQL whose placeholders cannot be found', 'name: x\ndatabase: { url: "postgres://db/app" }\ntools:\n  - name: t\n    sql: { query: "SELECT \'open :id" }\n', 'tools[0].sql.query: The query has an unterminated quoted string at line 1, column 8'],
    ['a database URL that is not Postgres', 'name: x\ndatabase: { url: "mysql://db/app" }\ntools: []\n', 'database.url: does not match'],
  ])('%s', (_name, yaml, message) => {
    expect(errorOf(yaml).message).toContain(message);
  });

  it('a SQL comment or quoted text holding :name is not a placeholder', () => {
    const yaml = 'name: x\ndatabase: { url: "postgres://db/app" }\ntools:\n  - name: t\n    sql:\n      query: |\n        -- note :shrug:\n        SELECT $$:zzz$$, \':x\' /* :y */\n';
    expect(parseConfig(yaml, 'x.yaml', {}).tools[0]!.run).toMatchObject({ kind: 'sql' });
  });
});

describe('script folders', () => {
  it('a script cwd that does not exist is a config error at its line, not a misleading spawn error later', () => {
    const yaml = 'name: x\ntools:\n  - name: t\n    script: { command: node, cwd: ./no-such-dir }\n';
    expect(() => parseConfig(yaml, 'x.yaml', {})).toThrow(/x\.yaml:4:\d+: tools\[0\]\.script\.cwd: no such folder: .*no-such-dir/);
    expect(parseConfig('name: x\ntools:\n  - name: t\n    script: { command: node, cwd: . }\n', 'x.yaml', {}).tools[0]!.run).toMatchObject({ kind: 'script' });
  });
});
