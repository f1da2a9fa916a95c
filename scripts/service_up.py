"""Exit 0 when a service answers: `service_up.py postgres URL` or `service_up.py redis URL`."""

import sys


def postgres_up(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url.replace("/vodstore", "/postgres"), connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL unreachable: {exc}".strip(), file=sys.stderr)
        return False
    return True


def redis_up(url: str) -> bool:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        print(f"Redis unreachable: {exc}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    kind, url = sys.argv[1], sys.argv[2]
    sys.exit(0 if {"postgres": postgres_up, "redis": redis_up}[kind](url) else 1)
