#!/usr/bin/env node
// Checks that the services the tests use answer: Postgres at DATABASE_URL, Redis at REDIS_URL.
// Exits 1 with a plain message naming what is down. Used by .ci/run after it tried to start them.
import net from 'node:net';

function probe(name, url, defaultPort) {
  if (!url) return Promise.resolve(`${name}: not configured (set ${name === 'Postgres' ? 'DATABASE_URL' : 'REDIS_URL'})`);
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname || '127.0.0.1', port: Number(port || defaultPort), timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`${name}: ${hostname}:${port || defaultPort} did not answer within 2 s`);
    });
    socket.once('error', (error) => resolve(`${name}: ${hostname}:${port || defaultPort} refused (${error.code})`));
  });
}

const problems = (await Promise.all([probe('Postgres', process.env.DATABASE_URL, 5432), probe('Redis', process.env.REDIS_URL, 6379)])).filter(Boolean);
if (problems.length > 0) {
  console.error(`Services are not reachable:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('services: Postgres and Redis answer');
