"""A RabbitMQ node of one's own on 127.0.0.1, for the drills and tests that stop or
restart the broker (`make broker-drill`, tests/test_broker.py): never the machine's own
node. Its data live in a temporary folder, its plugins are none (so it takes no
management port), and it is stopped by its process id.

    with PrivateRabbit(port=5694) as rabbit:
        ... rabbit.url ...
        rabbit.restart()  # the same data: durable queues and confirmed messages survive

Debian's `rabbitmq-server`, started as root, runs the node as the `rabbitmq` user: its
folder is handed to that user."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


class RabbitUnavailable(RuntimeError):
    """No `rabbitmq-server` here, or the node did not come up."""


class PrivateRabbit:
    def __init__(self, *, port: int, start_seconds: float = 60) -> None:
        self.port = port
        self.start_seconds = start_seconds
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{self.port}//"

    def __enter__(self) -> "PrivateRabbit":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _env(self) -> dict:
        assert self.folder is not None
        return {
            **os.environ,
            "RABBITMQ_NODENAME": f"vod{self.port}@localhost",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + 20000),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),  # (.conf is added)
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
        }

    def _prepare(self) -> None:
        if shutil.which("rabbitmq-server") is None:
            raise RabbitUnavailable("rabbitmq-server is not installed")
        if self._port_open():
            raise RabbitUnavailable(f"port {self.port} is taken already")
        self.folder = Path(tempfile.mkdtemp(prefix=f"vod-rabbit-{self.port}-"))
        (self.folder / "mnesia").mkdir()
        (self.folder / "log").mkdir()
        (self.folder / "plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {HOST}:{self.port}\nloopback_users = none\n"
        )
        if os.geteuid() == 0:
            for path in [self.folder, *self.folder.rglob("*")]:
                shutil.chown(path, "rabbitmq", "rabbitmq")

    def start(self) -> None:
        if self.folder is None:
            self._prepare()
        assert self.folder is not None
        with open(self.folder / "server.out", "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command
                [shutil.which("rabbitmq-server")],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_seconds
        while not self._speaks_amqp():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.folder / "server.out").read_text(errors="replace")[-1500:]
                self.stop()
                raise RabbitUnavailable(f"the node on port {self.port} did not start:\n{tail}")
            time.sleep(0.2)

    def _node_pid(self) -> int | None:
        assert self.folder is not None
        with contextlib.suppress(OSError, ValueError):
            return int((self.folder / "pid").read_text().strip())
        return None

    def stop(self) -> None:
        """Stop the node (SIGTERM to the Erlang VM: a clean shutdown) and wait for it."""
        pids = [pid for pid in (self._node_pid(),) if pid]
        if self.process is not None:
            pids.append(self.process.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        self.process = None
        while self._port_open() and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def _port_open(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.3)
            return probe.connect_ex((HOST, self.port)) == 0

    def _speaks_amqp(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, self.port), timeout=1) as conn,
        ):
            conn.sendall(b"AMQP\x00\x00\x09\x01")
            return conn.recv(1) == b"\x01"  # connection.start
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is not alive
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True
