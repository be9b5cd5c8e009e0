"""`app/loyalty` is the pure domain: importing it must not pull in the web framework,
the job queue, or any platform code (DESIGN.md, "Dependencies point inward")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("flask", "werkzeug", "rq", "redis", "shopify", "woocommerce",
             "integrations", "webhooks", "widgets")
DOMAIN_MODULES = sorted(
    "app.loyalty" + ("" if p.stem == "__init__" else "." + p.stem)
    for p in (ROOT / "app" / "loyalty").glob("*.py")
)

# Imports the module in a fresh interpreter and prints the forbidden top-level packages
# found in sys.modules. With `skip_app_init`, the `app` package is registered without
# running app/__init__.py, to tell what the domain itself imports from what the package does.
PROBE = """
import importlib, json, sys, types
module, skip_app_init = sys.argv[1], sys.argv[2] == "1"
if skip_app_init:
    package = types.ModuleType("app")
    package.__path__ = [{app_dir!r}]
    sys.modules["app"] = package
importlib.import_module(module)
forbidden = set({forbidden!r})
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & forbidden)))
"""


def imported_forbidden(module: str, *, skip_app_init: bool) -> list[str]:
    code = PROBE.format(app_dir=str(ROOT / "app"), forbidden=FORBIDDEN)
    result = subprocess.run(
        [sys.executable, "-c", code, module, "1" if skip_app_init else "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_domain_has_modules_to_check():
    assert "app.loyalty.ledger" in DOMAIN_MODULES and "app.loyalty.checks" in DOMAIN_MODULES


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_module_imports_no_web_queue_or_platform_code(module):
    assert imported_forbidden(module, skip_app_init=True) == []


@pytest.mark.parametrize("module", ["app.loyalty.ledger"])
def test_importing_the_domain_through_the_app_package_stays_pure(module):
    assert imported_forbidden(module, skip_app_init=False) == []
