/**
 * The Lua scripts of the Redis store. Each runs atomically in Redis, so concurrent requests on
 * any number of gateway instances see one consistent counter: no read-modify-write race.
 *
 * Time comes from the Redis server (`TIME`), so instances with skewed clocks still share one
 * clock. Calendar windows (days in a time zone, months) are the exception: the gateway passes
 * their bounds, so only a request within the clock skew of a boundary can land in the
 * neighbouring window.
 *
 * Redis 7 replicates script effects, never the script, which is what makes `TIME` followed by
 * writes legal; `redis.replicate_commands()` asks the same of Redis 5 and 6.
 */

/**
 * Rate limits: every limit of one request in one call (one round trip), all or nothing.
 *
 * KEYS[i]: state of limit i. ARGV[1]: cost. Then six values per limit: algorithm (0 GCRA,
 * 1 fixed window, 2 sliding window), limit, window ms, burst, window start, window end (0, 0:
 * windows aligned to the epoch, computed here from the server clock).
 *
 * Returns a flat array: the index (1-based) of the first refusing limit or 0, then for each limit
 * remaining units, ms until whole, ms until retry (integers).
 */
export const LIMITS_SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local n = #KEYS
local out = {0}
local denied = 0
local wa, wb, wc, wexp = {}, {}, {}, {}
for i = 1, n do
  local b = 1 + (i - 1) * 6
  local algo = tonumber(ARGV[b + 1])
  local limit = tonumber(ARGV[b + 2])
  local win = tonumber(ARGV[b + 3])
  local burst = tonumber(ARGV[b + 4])
  local ws = tonumber(ARGV[b + 5])
  local we = tonumber(ARGV[b + 6])
  local key = KEYS[i]
  local rem, reset, retry = 0, 0, 0
  if algo == 0 then
    local T = win / limit
    local span = burst * T
    local tat = tonumber(redis.call('GET', key) or '0') or 0
    if tat < now then tat = now end
    local newTat = tat + cost * T
    local allowAt = newTat - span
    if allowAt > now then
      rem = math.max(0, math.floor((now + span - tat) / T))
      reset = tat - now
      retry = allowAt - now
      if denied == 0 then denied = i end
    else
      rem = math.floor((now + span - newTat) / T)
      reset = newTat - now
      wa[i] = newTat
    end
  else
    if we == 0 then
      ws = now - (now % win)
      we = ws + win
    end
    local h = redis.call('HMGET', key, 'w', 'c', 'p')
    local hw = tonumber(h[1])
    local cur, prev = 0, 0
    if hw == ws then
      cur = tonumber(h[2]) or 0
      prev = tonumber(h[3]) or 0
    elseif algo == 2 and hw == ws - win then
      prev = tonumber(h[2]) or 0
    end
    if algo == 1 then
      if cur + cost > limit then
        rem = math.max(0, limit - cur)
        reset = we - now
        retry = we - now
        if denied == 0 then denied = i end
      else
        rem = limit - cur - cost
        reset = we - now
        wa[i] = ws; wb[i] = cur + cost; wc[i] = 0; wexp[i] = we
      end
    else
      local est = prev * ((we - now) / win) + cur
      if est + cost > limit then
        rem = math.max(0, math.floor(limit - est))
        reset = we - now
        local room = limit - cur - cost
        if room < 0 or prev <= 0 then
          retry = math.max(1, we - now)
        else
          retry = math.max(1, math.ceil(we - (win * room) / prev - now))
        end
        if denied == 0 then denied = i end
      else
        rem = math.floor(limit - est - cost)
        reset = we - now
        wa[i] = ws; wb[i] = cur + cost; wc[i] = prev; wexp[i] = we + win
      end
    end
  end
  out[#out + 1] = rem
  out[#out + 1] = math.ceil(reset)
  out[#out + 1] = math.ceil(retry)
end
if denied == 0 then
  for i = 1, n do
    local b = 1 + (i - 1) * 6
    local algo = tonumber(ARGV[b + 1])
    if algo == 0 then
      redis.call('SET', KEYS[i], string.format('%.3f', wa[i]), 'PX', math.max(1, math.ceil(wa[i] - now)))
    else
      redis.call('HSET', KEYS[i], 'w', wa[i], 'c', wb[i], 'p', wc[i])
      redis.call('PEXPIREAT', KEYS[i], wexp[i])
    end
  end
end
if denied > 0 then
  -- Nothing was consumed: the limits that would have passed keep their cost.
  for i = 1, n do
    if out[(i - 1) * 3 + 4] == 0 then out[(i - 1) * 3 + 2] = out[(i - 1) * 3 + 2] + cost end
  end
end
out[1] = denied
return out
`;

/**
 * Failure counters: one event for each key. A run ends ARGV[1] ms after its last event.
 * Returns the new counts.
 */
export const HIT_SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local c = redis.call('HINCRBY', KEYS[i], 'c', 1)
  redis.call('HSET', KEYS[i], 'l', now)
  redis.call('PEXPIRE', KEYS[i], win)
  out[i] = c
end
return out
`;

/** Failure counters: take back one event of each existing key (its time stays). Returns the new counts. */
export const UNHIT_SCRIPT = `
local out = {}
for i = 1, #KEYS do
  local c = tonumber(redis.call('HGET', KEYS[i], 'c') or '0') or 0
  if c > 0 then c = redis.call('HINCRBY', KEYS[i], 'c', -1) end
  out[i] = c
end
return out
`;

/** Failure counters: count and last event (ms) of each key; also the server time first. */
export const PEEK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {now}
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'c', 'l')
  out[#out + 1] = tonumber(h[1]) or 0
  out[#out + 1] = tonumber(h[2]) or 0
end
return out
`;

/**
 * Bans: KEYS[1] the sorted set of bans (member: subject, score: until ms), KEYS[2] the hash of
 * their reasons (same hash tag). ARGV: subject, ttl ms, reason, channel, most bans kept. Keeps a
 * later existing ban (and its reason), drops expired ones (at most 1000 per call, so the work
 * is bounded; the rest go with later calls and are never loaded meanwhile) and, past the bound,
 * those ending soonest, with their reasons; publishes the ban so every instance's local mirror
 * learns it at once. Returns the until time.
 */
export const BAN_SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[2])
local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0') or 0
local reason = ARGV[3]
if old > untilMs then
  untilMs = old
  reason = redis.call('HGET', KEYS[2], ARGV[1]) or reason
else
  redis.call('ZADD', KEYS[1], untilMs, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], reason)
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for i = 1, #gone do
  redis.call('ZREM', KEYS[1], gone[i])
  redis.call('HDEL', KEYS[2], gone[i])
end
local max = tonumber(ARGV[5])
local card = redis.call('ZCARD', KEYS[1])
if card > max then
  local over = redis.call('ZRANGE', KEYS[1], 0, card - max - 1)
  for i = 1, #over do
    redis.call('ZREM', KEYS[1], over[i])
    redis.call('HDEL', KEYS[2], over[i])
  end
end
redis.call('PUBLISH', ARGV[4], ARGV[1] .. '\\n' .. untilMs .. '\\n' .. reason)
return untilMs
`;

/** Bans: lift the ban of ARGV[1] (KEYS[1] the sorted set, KEYS[2] the reasons) and tell the other instances (ARGV[2] channel). */
export const UNBAN_SCRIPT = `
local n = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1] .. '\\n0\\n')
return n
`;
