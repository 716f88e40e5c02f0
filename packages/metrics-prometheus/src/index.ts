export { PrometheusMetrics, DEFAULT_BUCKETS, type AddPoolOptions, type PrometheusMetricsOptions, type PoolStats } from './metrics.js';
export { metricsHandler, startMetricsServer, type MetricsServer, type MetricsServerOptions } from './http.js';
