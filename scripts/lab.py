"""What the drills that start services of their own share (`make faults`, `make
security`): running programs and manage.py, and a `Lab` that starts a Redis, a
PostgreSQL cluster and gunicorn on ports of its own on 127.0.0.1 and stops each of them
by its process id at the end, whatever happened.

Its messages are prefixed with the name of the drill that runs it (faults, security).
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from storerun import BIN, ROOT, wait_for

HOST = "127.0.0.1"
PROGRAM = Path(sys.argv[0]).stem  # "faults", "security"


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


def django(env: dict, *args: str, timeout: float = 180, check: bool = True):
    """`manage.py ARGS` with the store's environment."""
    return run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, timeout=timeout, check=check
    )


def django_script(env: dict, script: str) -> dict:
    """A Python snippet after django.setup(); its JSON answer."""
    return json.loads(run([sys.executable, "-c", script], cwd=ROOT, env=env).stdout)


def children(parent: int) -> list[int]:
    """The process ids whose parent is `parent`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            state_and_more = stat.read_text().rsplit(")", 1)[1].split()
            if int(state_and_more[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def redis_ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


def wait_until(ready: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"{PROGRAM}: {what} did not come up in {seconds:.0f} s")
        time.sleep(0.1)


class Lab:
    """The processes a drill started. Each is stopped by its process id at the end
    (`close`), whatever happened; the PostgreSQL cluster with `pg_ctl stop`."""

    def __init__(
        self, work: Path, *, redis_port: int, pg_port: int, web_port: int, gunicorn: list[str]
    ) -> None:
        self.work = work
        self.redis_port, self.pg_port, self.web_port = redis_port, pg_port, web_port
        self.gunicorn = gunicorn  # gunicorn's options: workers, threads, timeout
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.env: dict = {}  # the store being served
        self.pg_data = work / "pg"
        self.pg_home = work / "pg-run"  # its socket and log, owned by postgres

    def spawn(self, name: str, args: list, *, log: str, env: dict | None = None) -> None:
        self.logs[name] = self.work / log
        with open(self.logs[name], "ab") as out:
            self.procs[name] = subprocess.Popen(  # noqa: S603 - our own fixed commands
                [str(a) for a in args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the drill, which stops them in order
            )

    def stop(self, name: str, *, timeout: float = 40) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        workers = children(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)  # a frozen process cannot exit
            proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pid in workers:  # gunicorn's workers, should the master have left any
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)
        if (self.pg_data / "PG_VERSION").exists():
            self.postgres_stop()
        shutil.rmtree(self.pg_data, ignore_errors=True)

    # -- Redis ----------------------------------------------------------------------
    def redis_start(self) -> None:
        options = f"--port {self.redis_port} --bind {HOST} --appendonly no".split()
        self.spawn("redis", [command("redis-server"), *options, "--save", ""], log="redis.log")
        wait_until(lambda: redis_ping(self.redis_port), "Redis")

    def redis_stop(self) -> None:
        self.stop("redis")

    def redis_freeze(self) -> None:
        os.kill(self.procs["redis"].pid, signal.SIGSTOP)

    def redis_thaw(self) -> None:
        os.kill(self.procs["redis"].pid, signal.SIGCONT)

    # -- PostgreSQL -------------------------------------------------------------------
    def as_postgres(self, program: str, *args, check: bool = True):
        """initdb and postgres refuse root: as root, run them as the postgres user."""
        prefix = [command("runuser"), "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return run(
            [*prefix, command(program), *args],
            cwd=self.pg_home,
            check=check,
            start_new_session=True,
        )

    def postgres_init(self) -> None:
        for folder in (self.pg_data, self.pg_home):
            folder.mkdir()
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres", "postgres")
        options = ["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"]
        self.as_postgres("initdb", "-D", self.pg_data, *options)
        self.postgres_start()
        run([command("createdb"), *f"-h {HOST} -p {self.pg_port} -U postgres vodstore".split()])

    def postgres_start(self) -> None:
        server = f"-p {self.pg_port} -k {self.pg_home} -c listen_addresses={HOST}"
        server += " -c max_connections=200"  # the workers' threads, and the commands
        log = self.pg_home / "postgres.log"
        self.as_postgres("pg_ctl", "-D", self.pg_data, "-o", server, "-l", log, "-w", "start")

    def postgres_stop(self) -> None:
        self.as_postgres("pg_ctl", "-D", self.pg_data, "-m", "immediate", "-w", "stop", check=False)

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.pg_port}/vodstore"

    @property
    def cache_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    # -- the store --------------------------------------------------------------------
    def web_log(self) -> str:
        """The name of gunicorn's log in the work folder."""
        return "web.log"

    def web_start(self) -> None:
        """gunicorn serving the store of `self.env`, once it answers /healthz."""
        server = ["vodstore.wsgi:application", "--bind", f"{HOST}:{self.web_port}"]
        server += [*self.gunicorn, "--log-level", "warning"]
        self.spawn("web", [BIN / "gunicorn", *server], log=self.web_log(), env=self.env)
        wait_for(f"http://{HOST}:{self.web_port}/healthz", seconds=60)
