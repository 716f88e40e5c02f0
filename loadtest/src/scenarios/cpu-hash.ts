/**
 * The cpu scenario's work: SHA-256 over `bytes` bytes, `rounds` times. Loaded on worker threads by
 * the pool, called on the main thread by the anchors, and run as a script process
 * (`node cpu-hash.js BYTES ROUNDS` prints the digest).
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export function sha256Rounds({ bytes, rounds }: { bytes: number; rounds: number }): string {
  const data = Buffer.alloc(bytes, 7);
  let digest = '';
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(data).update(digest).digest('hex');
  return digest;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(sha256Rounds({ bytes: Number(process.argv[2]), rounds: Number(process.argv[3]) }));
}
