"""Django's RedisCache, keeping its Redis clients.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for
every cache call, and each one fills a table of about 170 response
callbacks: with the rate limits' three or four cache calls that was 0.25 ms
of CPU in every predict request.  A ``redis.Redis`` is safe to share between
threads (it takes a connection from its pool per command), so one per
connection pool is kept."""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis


class ClientKeepingRedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ClientKeepingRedisCacheClient

    def redis_client(self):
        """The ``redis.Redis`` that writes go to: for what needs more than the
        cache API in one round trip (the rate limits' script)."""
        return self._cache.get_client(write=True)
