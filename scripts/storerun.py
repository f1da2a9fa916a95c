"""What the drill and the benchmark share: running manage.py, probing Redis, waiting
for a freshly started store to answer."""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def manage(env: dict, *args: str) -> str:
    """Run `manage.py ARGS` with `env`; its standard output."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def redis_up(url: str) -> bool:
    probe = [sys.executable, str(ROOT / "scripts/service_up.py"), "redis", url]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0  # noqa: S603


def wait_for(url: str, seconds: float = 30) -> None:
    """Wait until `url` (on 127.0.0.1) answers, or stop the script."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - 127.0.0.1 only
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the store did not come up at {url}")
