import { readFileSync } from 'node:fs';

/**
 * A process's CPU time so far in ms, user + system, from /proc (Linux; `undefined` elsewhere or when the
 * process is gone). Per request served, it is what a server costs whatever else the machine runs: on a
 * busy machine requests/s measures the OS scheduler as much as the server, CPU per request much less so.
 */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks of 10 ms on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
