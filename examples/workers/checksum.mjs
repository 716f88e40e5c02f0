// A CPU-bound tool for a worker thread: called as sha256(args), it returns the hex digest.
import { createHash } from 'node:crypto';

export function sha256({ text }) {
  return createHash('sha256').update(text).digest('hex');
}
