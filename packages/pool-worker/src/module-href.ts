import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { invalidArgument } from '@mcp-concurrency/core-scheduler/plugin';

/**
 * A module to run on a worker, as a `file:` URL: an absolute path or a `file:` URL. Relative paths
 * are refused (relative to what?), and so is any other scheme: tool code comes from local files only.
 */
export function moduleHref(name: string, module: unknown): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw invalidArgument(name, 'an absolute path or a file: URL', module.href);
    return module.href;
  }
  if (typeof module === 'string') {
    if (module.startsWith('file:')) return moduleHref(name, new URL(module));
    if (isAbsolute(module)) return pathToFileURL(module).href;
  }
  throw invalidArgument(name, 'an absolute path or a file: URL', module);
}
