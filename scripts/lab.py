"""The processes a drill breaks on purpose (`make faults`, `make security`, `make
broker-drill`): a `Lab` starts a Redis, a PostgreSQL cluster and gunicorn on ports of its
own on 127.0.0.1 and stops each of them by its process id at the end, whatever happened.
"""

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from scripts.runner import (
    HOST,
    ROOT,
    children,
    command,
    gunicorn,
    redis_ping,
    run,
    wait_for,
    wait_until,
)


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
        server = gunicorn(self.web_port, self.gunicorn)
        self.spawn("web", server, log=self.web_log(), env=self.env)
        wait_for(f"http://{HOST}:{self.web_port}/healthz", seconds=60)
