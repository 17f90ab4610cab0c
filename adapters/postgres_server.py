"""Runs a private PostgreSQL server (Debian's `postgresql` package) for tests and benchmarks of the ledger store.

It listens on loopback only, on a free port, with one password user (scram-sha-256); the password is generated
into `<data_dir>/password` (0600) and never put on a command line. As root it runs the server as the `postgres`
system user, since PostgreSQL refuses to run as root."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from adapters.redis_server import _die_with_parent, _write_private, free_port

USER, DATABASE = "zhouqu", "zhouqu"


def bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian keeps them under /usr/lib/postgresql)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise FileNotFoundError("PostgreSQL is not installed (Debian package `postgresql`; `make system-deps`)")
    return found[-1].parent


class PostgresServer:
    """A PostgreSQL server under `data_dir`, started and stopped by this process."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.password = ""
        self._as: tuple[int, int] | None = None  # (uid, gid) to run as, when we are root

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's database (psycopg 3 driver)."""
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def _preexec(self) -> None:
        _die_with_parent()
        if self._as is not None:
            os.setgid(self._as[1])
            os.setuid(self._as[0])

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, preexec_fn=self._preexec, timeout=120)

    def start(self, timeout_s: float = 30.0) -> str:
        """Create the cluster (first time), start the server and the database; returns the URL."""
        pg = bin_dir()
        cluster = self.data_dir / "cluster"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            entry = pwd.getpwnam("postgres")
            self._as = (entry.pw_uid, entry.pw_gid)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        secret = self.data_dir / "password"
        if not secret.exists():
            _write_private(secret, secrets.token_urlsafe(24))
            if self._as is not None:
                os.chown(secret, *self._as)
        self.password = secret.read_text().strip()
        if not (cluster / "PG_VERSION").exists():
            self._run(str(pg / "initdb"), "-D", str(cluster), "-U", USER, "--auth=scram-sha-256",
                      f"--pwfile={secret}", "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        self.proc = subprocess.Popen(
            [str(pg / "postgres"), "-D", str(cluster), "-p", str(self.port), "-k", str(self.data_dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=128MB"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=self._preexec,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            probe = subprocess.run([str(pg / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                                   check=False)  # fmt: skip
            if probe.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start on port {self.port} (data in {cluster})")
            time.sleep(0.2)
        self._create_database()
        return self.url

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password,
                             dbname="postgres", autocommit=True) as conn:  # fmt: skip
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def dump(self, database: str = DATABASE) -> bytes:
        """A whole database as `pg_dump` writes it (plain SQL, with data)."""
        env = {**os.environ, "PGPASSWORD": self.password}
        out = subprocess.run([str(bin_dir() / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                              database], check=True, capture_output=True, env=env, timeout=300)  # fmt: skip
        return out.stdout

    def stop(self) -> None:
        """Stop the server (fast shutdown) by its process id; the data stays."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def remove(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
