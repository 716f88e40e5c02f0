/**
 * Reads bucket i and refills it to `now` on Redis's clock: sets `level`. Expects `now`, `rate`,
 * `burst` in scope. Shared by the acquire and throttle scripts so they agree on the arithmetic.
 */
const READ_LEVEL = `
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local level = tonumber(state[1])
  local ts = tonumber(state[2])
  if level == nil or ts == nil then
    level = burst
    ts = now
  end
  if now > ts then
    level = math.min(burst, level + (now - ts) * rate / 1000)
  end
`;

/**
 * Token buckets in one atomic step, on Redis's clock. KEYS: one per bucket. ARGV: per bucket
 * rate (tokens/s), burst, cost, ttl (ms); then, optionally, one debt per bucket: tokens to charge
 * first (a process's grants while Redis was unreachable), recorded whatever the answer.
 * Either every bucket has `cost` tokens and all are taken, or none is taken and the reply says how
 * long until all of them would have enough.
 * Reply: { 1, "0" } granted, or { 0, "<ms to wait>" } (a string: Lua numbers lose fractions on the way out).
 */
export const TOKEN_BUCKET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = #KEYS
local tokens = {}
local charged = false
local wait = 0
for i = 1, n do
  local rate = tonumber(ARGV[(i - 1) * 4 + 1])
  local burst = tonumber(ARGV[(i - 1) * 4 + 2])
  local cost = tonumber(ARGV[(i - 1) * 4 + 3])
  local debt = tonumber(ARGV[n * 4 + i]) or 0
${READ_LEVEL}
  if debt > 0 then
    level = level - debt
    charged = true
  end
  tokens[i] = level
  if level < cost then
    local w = (cost - level) * 1000 / rate
    if w > wait then wait = w end
  end
end
if wait > 0 then
  if charged then
    for i = 1, n do
      local rate = tonumber(ARGV[(i - 1) * 4 + 1])
      local ttl = tonumber(ARGV[(i - 1) * 4 + 4])
      redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'ts', tostring(now))
      redis.call('PEXPIRE', KEYS[i], ttl + math.ceil(math.max(0, -tokens[i]) * 1000 / rate))
    end
  end
  return { 0, tostring(wait) }
end
for i = 1, n do
  local cost = tonumber(ARGV[(i - 1) * 4 + 3])
  local ttl = tonumber(ARGV[(i - 1) * 4 + 4])
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - cost), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return { 1, '0' }
`;

/**
 * A counting semaphore with leases. KEYS[1]: a sorted set of holders scored by lease expiry (Redis
 * time, ms). ARGV: limit, leaseMs, holder id, mode ('acquire' | 'renew' | 'release'), cost.
 * Expired leases are dropped first, so a crashed process frees its slots when its lease runs out.
 * Reply: { 1, 0 } done, or { 0, <ms until the soonest lease expires> }.
 */
export const SEMAPHORE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local id = ARGV[3]
local mode = ARGV[4]
local cost = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if mode == 'release' then
  for i = 1, cost do redis.call('ZREM', key, id .. ':' .. i) end
  return { 1, 0 }
end
if mode == 'renew' then
  if redis.call('ZSCORE', key, id .. ':1') == false then return { 0, 0 } end
  for i = 1, cost do redis.call('ZADD', key, now + lease, id .. ':' .. i) end
  redis.call('PEXPIRE', key, lease * 2)
  return { 1, 0 }
end
if redis.call('ZCARD', key) + cost <= limit then
  for i = 1, cost do redis.call('ZADD', key, now + lease, id .. ':' .. i) end
  redis.call('PEXPIRE', key, lease * 2)
  return { 1, 0 }
end
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return { 0, tonumber(first[2]) - now }
`;

/**
 * Puts every bucket into debt: no token for `retryAfterMs` (a 429 said so), for every process.
 * KEYS: the buckets. ARGV: per bucket rate, burst, ttl (ms); then retryAfterMs last.
 */
export const THROTTLE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local after = tonumber(ARGV[#ARGV])
for i = 1, #KEYS do
  local rate = tonumber(ARGV[(i - 1) * 3 + 1])
  local burst = tonumber(ARGV[(i - 1) * 3 + 2])
  local ttl = tonumber(ARGV[(i - 1) * 3 + 3])
${READ_LEVEL}
  level = math.min(level, -after * rate / 1000)
  redis.call('HSET', KEYS[i], 'tokens', tostring(level), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], ttl + math.ceil(after))
end
return 1
`;
