"""Running the `loyalty` command in tests: in-process (click's CliRunner) and as the real
console script in a subprocess, against a database given by DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from app.cli import main

REPO = Path(__file__).resolve().parent.parent


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """Only what the command should see: no inherited REDIS_URL, APP_ENV or keys."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "APP_ENV": "test",
        "ENCRYPTION_KEY": "",
        "ALLOW_HTTP_STORES": "",
    }
    env.update(extra)
    return env


def invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def loyalty_command() -> list[str]:
    """The installed console script when there is one, else the module."""
    script = Path(sys.executable).parent / "loyalty"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def run(args: list[str], env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in env}
    full_env.update(env)
    return subprocess.run(
        [*loyalty_command(), *args], env=full_env, cwd=REPO, capture_output=True, text=True,
        timeout=timeout,
    )
