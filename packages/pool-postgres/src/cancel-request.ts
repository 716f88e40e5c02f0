import { connect, type Socket } from 'node:net';
import type pg from 'pg';

/** The protocol's CancelRequest code (1234 << 16 | 5678). */
const CANCEL_REQUEST_CODE = 80877102;

/**
 * Asks the server to cancel whatever `client`'s backend is running, with the protocol's own
 * CancelRequest: a 16-byte message on a fresh socket, carrying the backend's pid and secret key.
 * No login, no pool connection taken: it works when the pool is exhausted. Resolves when the request
 * is written (the server answers by failing the running statement with SQLSTATE 57014).
 */
export function sendCancelRequest(client: pg.ClientBase, timeoutMs = 2_000): Promise<void> {
  const { processID, secretKey, host, port } = client as unknown as { processID: number | null; secretKey: number | null; host: string; port: number };
  if (processID === null || secretKey === null) return Promise.reject(new Error('The connection has no backend key to cancel with'));
  const message = Buffer.alloc(16);
  message.writeInt32BE(16, 0);
  message.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  message.writeInt32BE(processID, 8);
  message.writeInt32BE(secretKey, 12);
  return new Promise((resolve, reject) => {
    const socket: Socket = host?.startsWith('/') ? connect(`${host}/.s.PGSQL.${port}`) : connect(port, host || 'localhost');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`CancelRequest: no connection within ${timeoutMs} ms`)));
    socket.once('connect', () => socket.end(message, () => resolve()));
    socket.once('error', reject);
  });
}
