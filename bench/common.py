"""Helpers every benchmark shares: a scratch PostgreSQL database, a pgbench runner, the
machine's description and a plain-text table, so figures from different benchmarks are
taken and printed the same way."""

from __future__ import annotations

import http.client
import os
import platform
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _sqlalchemy_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@contextmanager
def scratch_database(admin_url: str = DEFAULT_ADMIN_URL, prefix: str = "ll_bench") -> Iterator[str]:
    """A new, empty database on the server of `admin_url`; dropped afterwards, even on error."""
    admin = _sqlalchemy_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@dataclass(frozen=True)
class PgbenchTarget:
    host: str
    port: int
    user: str
    database: str
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> PgbenchTarget:
        parsed = _sqlalchemy_url(url)
        return cls(parsed.host or "127.0.0.1", parsed.port or 5432, parsed.username or "postgres",
                   parsed.database or "postgres", parsed.password)

    def args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def pgbench_init(target: PgbenchTarget, scale: int = 10) -> None:
    _pgbench(target, ["-i", "-q", "-s", str(scale), target.database])


def pgbench_tps(target: PgbenchTarget, clients: int, seconds: int, *, mode: str = "-N") -> float:
    """TPS of pgbench's built-in script (`-N`: simple update, no branch/teller hot rows)."""
    threads = max(1, min(clients, os.cpu_count() or 1))
    out = _pgbench(target, [mode, "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds),
                            target.database])
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if match is None:
        match = re.search(r"tps = ([0-9.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read the TPS from pgbench:\n{out}")
    return float(match.group(1))


def _pgbench(target: PgbenchTarget, extra: list[str]) -> str:
    exe = shutil.which("pgbench")
    if exe is None:
        raise RuntimeError("pgbench is not installed (apt-get install postgresql-client)")
    result = subprocess.run([exe, *target.args(), *extra], capture_output=True, text=True,
                            env=target.env(), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed ({result.returncode}):\n{result.stderr}")
    return result.stdout + result.stderr


def describe_machine(database_url: str | None = None) -> dict[str, str]:
    """What the figures were measured on."""
    info = {
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    if database_url:
        engine = create_engine(_sqlalchemy_url(database_url))
        try:
            with engine.connect() as conn:
                info["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
        finally:
            engine.dispose()
    return info


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(format_table(headers, rows), flush=True)


def print_machine(info: dict[str, str]) -> None:
    for key, value in info.items():
        print(f"{key:>10}: {value}")

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

def wait_for_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not answer {path} in {timeout} s")

def flush_redis(url: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    client.flushdb()
    client.close()

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
