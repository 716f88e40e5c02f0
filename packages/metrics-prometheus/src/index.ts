export { PrometheusMetrics, DEFAULT_BUCKETS, type PrometheusMetricsOptions, type PoolStats } from './metrics.js';
export { metricsHandler, startMetricsServer, type MetricsServerOptions } from './http.js';
