"""Django's Redis cache backend, with one Redis client per connection pool.

Django builds a new `redis.Redis` around the pool for every cache operation; on the
hot paths (a cached catalog answer, the payment guard, the rate limit) that rebuild
was about half the cost of the cache call. A redis-py client is safe to share between
threads (its pool hands out connections), so one per pool is enough."""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            # setdefault: two threads racing here keep one client between them
            client = self._clients.setdefault(index, client)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    def redis(self):
        """The shared redis-py client, for what the cache API lacks (publish/subscribe)."""
        return self._cache.get_client(write=True)
