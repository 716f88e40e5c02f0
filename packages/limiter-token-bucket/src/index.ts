export { TokenBucket, type TokenBucketOptions, type TokenBucketAcquireOptions } from './token-bucket.js';
export {
  RedisTokenBucket,
  type RedisTokenBucketOptions,
  type BucketSpec,
  type UnavailablePolicy,
  type RedisLimiterStats,
} from './redis-token-bucket.js';
export { RedisSemaphore, type RedisSemaphoreOptions } from './redis-semaphore.js';
export { bottleneckLimiter } from './bottleneck.js';
export { TOKEN_BUCKET_SCRIPT, SEMAPHORE_SCRIPT, THROTTLE_SCRIPT } from './lua.js';
export { maxInWindow, worstExcess } from './compliance.js';
