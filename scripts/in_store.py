"""Run one task inside a store: `echo '{"argument": ...}' | python -m scripts.in_store TASK`.

The store is the one its environment names (DATABASE_URL, CACHE_URL, ...); the task is
a function of `scripts.seed`, `scripts.books` or `scripts.pruning` (or `poison`, below),
called with the keys of the JSON object read from standard input (none if it is empty)
as keyword arguments; its answer is printed as JSON. The drills call
it through `runner.in_store`, so their set-up and their checks are plain functions that
ruff and the tests see, rather than Python held in strings.
"""

import json
import sys

import django


def poison(*, exchange_prefix: str) -> dict:
    """Publish a message that is no event of this store to the broker, routed as a
    PaymentApproved (the broker drill's poison message: it must be dead-lettered)."""
    from vodstore import broker

    with broker.connect() as conn:
        conn.Producer().publish(
            b"\xff poison",
            exchange=f"{exchange_prefix}.events",
            routing_key="PaymentApproved",
            content_type="application/octet-stream",
            content_encoding="binary",
        )
    return {}


def tasks() -> dict:
    from scripts import books, pruning, seed

    found = {"poison": poison}
    for module in (seed, books, pruning):
        for name in getattr(module, "TASKS", ()):
            found[f"{module.__name__.rsplit('.', 1)[1]}.{name}"] = getattr(module, name)
    return found


def main(argv: list[str]) -> int:
    django.setup()
    available = tasks()
    if len(argv) != 1 or argv[0] not in available:
        print(f"usage: python -m scripts.in_store {{{','.join(available)}}} < JSON")
        return 2
    arguments = json.loads(sys.stdin.read() or "{}")
    print(json.dumps(available[argv[0]](**arguments)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
