/**
 * Round trips to a service measured beside a test's own work, so that a test can derive its timing slack
 * from the jitter this run actually saw instead of assuming one. `ping` is one round trip (a Redis PING,
 * a `SELECT 1`); it runs every `everyMs` until `stop()`, which resolves with every round trip in ms.
 */
export function measureRoundTrips(ping: () => Promise<unknown>, everyMs = 10): { stop(): Promise<number[]> } {
  const trips: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const sent = performance.now();
      await ping();
      trips.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return trips;
    },
  };
}
