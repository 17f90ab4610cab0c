"""Runs the platform's own redis-server under var/ (AOF on) when no REDIS_URL is configured.

It listens on loopback only and admits one ACL user, USER, whose password is generated at the first start into
`<data_dir>/password` (mode 0600) and kept for later starts; the default (passwordless) user is off. The full URL
is written to `<data_dir>/url` (0600) for the command-line tools (`own_url`); the password never goes on a
command line, so `ps` does not show it."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started us dies, even by kill -9 (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_GIVEN: set[int] = set()  # ports free_port handed out in this process


@functools.cache
def _ephemeral_low() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's ip_local_port_range; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """An unused TCP port on loopback, below the kernel's ephemeral range and not handed out before here.

    A port the kernel picks for a bind to 0 comes from the ephemeral range, which outgoing connections also draw
    from, so one of them could take it before the service binds it; below the range nothing is picked for us."""
    low = _ephemeral_low()
    below = range(max(1024, low - 12_000), low)
    for port in random.sample(below, min(200, len(below))):
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    with socket.socket() as s:  # no room below the range: let the kernel pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


USER = "zhouqu"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (created 0600, never world-readable in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode on open


def _password(data_dir: Path) -> str:
    """The server's password: generated once into data_dir/password (0600), then read back."""
    path = data_dir / "password"
    if not path.exists():
        _write_private(path, secrets.token_hex(24))
    os.chmod(path, 0o600)
    return path.read_text(encoding="utf-8").strip()


def own_url(data_dir: Path) -> str | None:
    """URL (with password) of the platform's own redis-server last started under data_dir, if any."""
    path = Path(data_dir) / "url"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def default_url(var_dir: Path = Path("var")) -> str:
    """The Redis a command-line tool uses: REDIS_URL, else the platform's own server under var_dir, else 6379."""
    return os.environ.get("REDIS_URL") or own_url(Path(var_dir) / "redis") or "redis://127.0.0.1:6379/0"


def redacted(url: str) -> str:
    """A Redis URL with its password replaced by ***, for people and logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


class RedisServer:
    """A child redis-server with its data directory under var/; stopped by process id."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._secret = ""

    @property
    def url(self) -> str:
        """redis:// URL of this server, with the ACL user and password (known once started)."""
        return f"redis://{USER}:{self._secret}@127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        """Start redis-server and wait until it answers PING; returns its URL."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make demo` (it installs it) or set REDIS_URL")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)  # the AOF holds personal data
        self._secret = _password(self.data_dir)
        conf = self.data_dir / "redis.conf"  # the ACL lives in a 0600 file: not on the command line
        _write_private(conf, f"user default off resetpass -@all\nuser {USER} on >{self._secret} ~* &* +@all\n")
        args = [
            binary, str(conf.resolve()), "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--dir", str(self.data_dir.resolve()),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
            "--logfile", str((self.data_dir / "redis.log").resolve()), "--maxclients", "10000",
        ]  # fmt: skip
        # own session: a Ctrl-C meant for the platform must not kill Redis before the platform stops in order
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if client.ping():
                    client.close()
                    _write_private(self.data_dir / "url", self.url + "\n")
                    return self.url
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {self.data_dir / 'redis.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
