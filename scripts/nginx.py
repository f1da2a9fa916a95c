"""An nginx of one's own on 127.0.0.1 running the store's production server block
(deploy/nginx/vodstore.conf) in front of a store already listening somewhere, for the
test of the X-Accel-Redirect path (tests/test_streaming_nginx.py) and the media
benchmark (`python -m scripts.bench media`): never the machine's own nginx. Its configuration,
pid file, logs and temporary folders live in a folder of its own, and it is stopped by
its process id.

    with PrivateNginx(port=8781, upstream="127.0.0.1:8000", media_root=path) as nginx:
        ... nginx.url ...

The server block is used as committed, with only its placeholders replaced (the port it
listens on, gunicorn's address, MEDIA_ROOT and STATIC_ROOT): what is tested is what
production runs. Debian's nginx (`apt-get install nginx`)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_BLOCK = ROOT / "deploy/nginx/vodstore.conf"
HOST = "127.0.0.1"
MIME_TYPES = Path("/etc/nginx/mime.types")


class NginxUnavailable(RuntimeError):
    """No nginx here, or it did not come up."""


def nginx_binary() -> str | None:
    """nginx's path (it lives in /usr/sbin, which a user's PATH may lack), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_block(*, port: int, upstream: str, media_root: Path, static_root: Path) -> str:
    """deploy/nginx/vodstore.conf with its placeholders replaced; each must be there
    exactly once (a change to the file's shape fails here, not silently)."""
    text = SERVER_BLOCK.read_text()
    for placeholder, value in (
        ("server 127.0.0.1:8000;", f"server {upstream};"),
        ("listen 80;", f"listen {HOST}:{port};"),
        ("listen [::]:80;", ""),
        ("alias /srv/vodstore/media/;", f"alias {media_root}/;"),
        ("alias /srv/vodstore/staticfiles/;", f"alias {static_root}/;"),
    ):
        if text.count(placeholder) != 1:
            raise NginxUnavailable(f"{SERVER_BLOCK.name}: expected one `{placeholder}`")
        text = text.replace(placeholder, value)
    return text


class PrivateNginx:
    def __init__(
        self,
        *,
        upstream: str,
        media_root: Path,
        static_root: Path | None = None,
        port: int | None = None,
        workers: int = 1,
        start_seconds: float = 15,
    ) -> None:
        self.upstream = upstream
        self.media_root = Path(media_root)
        self.static_root = Path(static_root) if static_root else self.media_root
        self.port = port or free_port()
        self.workers = workers
        self.start_seconds = start_seconds
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> "PrivateNginx":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _config(self) -> str:
        folder = self.folder
        assert folder is not None
        types = (
            f"include {MIME_TYPES};"
            if MIME_TYPES.exists()
            else "types { video/mp4 mp4; video/webm webm; text/css css; }"
        )
        # As root, nginx's workers would run as nobody, who cannot read a test's
        # private temporary folders: they run as the user who started it.
        user = "user root;" if os.geteuid() == 0 else ""
        return f"""
daemon off;
{user}
worker_processes {self.workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/vodstore.conf;
}}
"""

    def start(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise NginxUnavailable("nginx is not installed (apt-get install nginx)")
        self.folder = Path(tempfile.mkdtemp(prefix="vod-nginx-"))
        (self.folder / "vodstore.conf").write_text(
            server_block(
                port=self.port,
                upstream=self.upstream,
                media_root=self.media_root,
                static_root=self.static_root,
            )
        )
        (self.folder / "nginx.conf").write_text(self._config())
        command = [binary, "-p", str(self.folder), "-e", str(self.folder / "error.log")]
        command += ["-c", str(self.folder / "nginx.conf")]
        with open(self.folder / "stderr.log", "wb") as stderr:
            # a session of its own: its workers can be stopped with it, by its id
            self.process = subprocess.Popen(  # noqa: S603
                command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
        deadline = time.monotonic() + self.start_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = (self.folder / "stderr.log").read_text(errors="replace")
                error += self.error_log()
                self.close()
                raise NginxUnavailable(f"nginx exited at start: {error.strip()}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise NginxUnavailable(f"nginx did not listen on {HOST}:{self.port}")

    def error_log(self) -> str:
        path = self.folder / "error.log" if self.folder else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def close(self) -> None:
        """Stop nginx by its process id (a graceful quit; if that hangs, a kill of its
        process group), and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # the master and its workers: the process group it leads (its own id)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
