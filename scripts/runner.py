"""What every drill and benchmark shares: the store's environment, running manage.py and
the in-store tasks (`scripts.in_store`), gunicorn on 127.0.0.1, and waiting for things
to come up. The processes a drill breaks on purpose (Redis, PostgreSQL) are `scripts.lab`'s.

Run the tools from the project's root as modules (`python -m scripts.drill`), as the
Makefile does: they import each other as `scripts.*`, as the tests do.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PROGRAM = Path(sys.argv[0]).stem  # the tool's name, for its messages


def command(name: str) -> str:
    """The full path of a program on the PATH, or stop with what is missing."""
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{PROGRAM}: {name} is not on the PATH")
    return found


def run(args: list, *, timeout: float = 120, check: bool = True, **kwargs):
    """Run a program to its end; on failure (when `check`) stop with its output."""
    try:
        done = subprocess.run(  # noqa: S603 - our own fixed commands
            [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs
        )
    except subprocess.TimeoutExpired as exc:
        done = subprocess.CompletedProcess(exc.cmd, -9, "", f"timed out after {timeout:.0f} s")
    if check and done.returncode:
        raise SystemExit(
            f"{PROGRAM}: {' '.join(map(str, args))} failed ({done.returncode}):\n"
            f"{done.stdout}{done.stderr}"
        )
    return done


def manage(env: dict, *args: str, timeout: float = 900, check: bool = True):
    """`manage.py ARGS` with the store's environment."""
    return run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, timeout=timeout, check=check
    )


def in_store(env: dict, task: str, **arguments):
    """Run one of `scripts.in_store.TASKS` inside the store of `env` (its database, its
    settings); its answer, decoded from JSON."""
    done = run(
        [sys.executable, "-m", "scripts.in_store", task],
        cwd=ROOT,
        env=env,
        timeout=900,
        input=json.dumps(arguments),
    )
    return json.loads(done.stdout)


def store_env(work: Path, **settings: str) -> dict:
    """A production-like store (DEBUG off, plain HTTP on 127.0.0.1) whose files live in
    `work`, with `settings` on top (DATABASE_URL, CACHE_URL, ...)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vodstore.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SECURE_HTTPS": "false",
        "ALLOWED_HOSTS": HOST,
        "STATIC_ROOT": str(work / "static"),
        "PAYMENT_SIMULATED_LEDGER": str(work / "gateway.sqlite3"),
        "LOG_LEVEL": "WARNING",
        **settings,
    }


def store_open(env: dict, *, films: int = 0) -> None:
    """The tables, the static files as deployed (whitenoise serves them) and `films`
    demo films (besides the two originals)."""
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input")
    if films:
        manage(env, "load_demo_catalog", "--count", str(films))


def gunicorn(port: int, options: list[str]) -> list[str]:
    """The command that serves the store on 127.0.0.1:`port` with gunicorn's `options`
    (workers, threads, timeout)."""
    return [
        str(BIN / "gunicorn"),
        "vodstore.wsgi:application",
        *("--bind", f"{HOST}:{port}", *options, "--log-level", "warning"),
    ]


@contextlib.contextmanager
def serving(env: dict, port: int, options: list[str]) -> Iterator[subprocess.Popen]:
    """gunicorn for the duration of the block, once it answers /healthz; stopped by its
    process id (SIGTERM, then SIGKILL after 30 s) whatever happened."""
    server = subprocess.Popen(gunicorn(port, options), cwd=ROOT, env=env)  # noqa: S603
    try:
        wait_for(f"http://{HOST}:{port}/healthz", seconds=60)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_for(url: str, seconds: float = 30) -> None:
    """Wait until `url` (on 127.0.0.1) answers, or stop the tool."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - 127.0.0.1 only
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{PROGRAM}: the store did not come up at {url} in {seconds:.0f} s")


def wait_until(ready: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"{PROGRAM}: {what} did not come up in {seconds:.0f} s")
        time.sleep(0.1)


def redis_up(url: str) -> bool:
    probe = [sys.executable, "-m", "scripts.service_up", "redis", url]
    return subprocess.run(probe, cwd=ROOT, capture_output=True, check=False).returncode == 0  # noqa: S603


def redis_ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def children(parent: int) -> list[int]:
    """The process ids whose parent is `parent`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            state_and_more = stat.read_text().rsplit(")", 1)[1].split()
            if int(state_and_more[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def report_write(name: str, text: str) -> Path:
    """Keep a run's report as reports/`name`.md (the folder is git-ignored)."""
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    path = reports / f"{name}.md"
    path.write_text(text if text.endswith("\n") else text + "\n")
    return path
