"""The Lua scripts `RedisStore` runs inside Redis, each reading and writing its keys in one atomic step
(and one round trip); each says what its KEYS and ARGV are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from server.state.redis_link import LinkScript, RedisLink

DELETE_OWNED_PRESENCE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)[ARGV[1]] == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""KEYS: presence. ARGV: the owner's field ("instance_id" or "connection_id") and its value. Deletes
the presence only if that instance (or that socket) owns it."""

REFRESH_PRESENCE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['connection_id'] ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""
"""KEYS: presence. ARGV: presence, its connection id, ttl ms. Writes only over that connection's own
presence (or none): a socket replaced by a newer one never takes the device back."""

PUT_SESSION = """
if ARGV[5] == 'XX' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX') then return 0 end
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[5], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
return 1
"""
"""KEYS: session, context, all-sessions index, device's index, pause profile. ARGV: record, ttl ms,
created_at, session id, and "XX" to write only over an existing session. The context and the pause
profile expire with it."""

APPEND_CONTEXT = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then ttl = ARGV[2] end
return redis.call('PEXPIRE', KEYS[1], ttl)
"""
"""KEYS: context, session. ARGV: keep_last, fallback ttl ms, messages. Expires with the session."""

SET_PAUSES = """
redis.call('SET', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then ttl = ARGV[2] end
return redis.call('PEXPIRE', KEYS[1], ttl)
"""
"""KEYS: pause profile, session. ARGV: profile, fallback ttl ms. Expires with the session, as the
context does."""

DEVICE_SNAPSHOT = """
local device = redis.call('GET', KEYS[1])
if not device then return false end
local day = redis.call('HMGET', KEYS[4], 'interactions', 'latency_ms_total')
return {device, redis.call('HGETALL', KEYS[2]), redis.call('GET', KEYS[3]), day}
"""
"""KEYS: device, runtime, presence, the day's metrics. One round trip for a device's state (a REST
read of it is otherwise four); false for an unknown device, a missing presence as nil."""

CHECK_TOKEN = """
local standing = 'ok'
if ARGV[2] == 'device' then
  local device = redis.call('GET', KEYS[2])
  if not device then
    standing = redis.call('EXISTS', KEYS[1]) == 1 and 'revoked' or 'unknown_device'
  elseif cjson.decode(device)['token_jti'] ~= ARGV[1] then
    standing = 'revoked'
  end
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  standing = 'revoked'
end
if standing ~= 'ok' or ARGV[3] == '0' then return {standing} end
local count = redis.call('INCR', KEYS[#KEYS])
redis.call('EXPIRE', KEYS[#KEYS], ARGV[3])
return {standing, count}
"""
"""KEYS: the jti's revocation, the device (a device token's only), the rate counter (with a count).
ARGV: jti, "device" or "operator", the counter's ttl s ("0": count nothing). A REST request's token
check and rate-limit hit in one round trip; a refused token counts nothing."""

Script = Callable[..., Awaitable[Any]]
"""A Lua script called with `keys=` and `args=`: the link's, or redis-py's on a connection the link
does not speak."""


class StoreScripts:
    """The scripts, registered on `client`. The two on a REST request's path (a device's snapshot,
    the token check) go over the lean `link` when there is one (redis_link.py); the rest, which a
    pipeline may queue (`client=pipe`), over redis-py."""

    def __init__(self, client: Redis, link: RedisLink | None) -> None:
        self.delete_owned_presence = client.register_script(DELETE_OWNED_PRESENCE)
        self.refresh_presence = client.register_script(REFRESH_PRESENCE)
        self.put_session = client.register_script(PUT_SESSION)
        self.append_context = client.register_script(APPEND_CONTEXT)
        self.set_pauses = client.register_script(SET_PAUSES)
        if link is None:
            self.device_snapshot: Script = client.register_script(DEVICE_SNAPSHOT)
            self.check_token: Script = client.register_script(CHECK_TOKEN)
        else:
            self.device_snapshot = LinkScript(link, DEVICE_SNAPSHOT)
            self.check_token = LinkScript(link, CHECK_TOKEN)
