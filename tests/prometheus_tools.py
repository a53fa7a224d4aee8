"""The Prometheus binaries (``prometheus``, ``promtool``) for the tests that need them.

They come from the Debian package ``prometheus`` (2.42), which ``make tools`` installs
where it is missing (``.ci/run`` calls it before ``make test``). Without them the tests
are skipped, and under ``CI=true`` they fail: CI never passes by not checking.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DEPLOY_PROMETHEUS = REPO / "deploy" / "prometheus"
RULE_TESTS_DIR = DEPLOY_PROMETHEUS / "tests"
INSTALL_HINT = "run `make tools` (apt-get install prometheus) or put it on PATH"


def binary(name: str) -> str:
    """Path of ``name`` on PATH; skips the test (fails it under ``CI=true``) when absent."""
    found = shutil.which(name)
    if found is not None:
        return found
    message = f"{name} not found: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def run_tool(
    *args: str, cwd: Path = REPO, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a Prometheus tool (``args[0]`` a name on PATH); never raises on a non-zero exit."""
    return subprocess.run(
        [binary(args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


# -- a real Prometheus ------------------------------------------------------------------

Vector = list[dict[str, Any]]


class PrometheusServer:
    """A ``prometheus`` process on ``127.0.0.1:port`` with its own data dir; HTTP API helpers.

    Start with :meth:`start` (blocks until ready, at most ``timeout_s``), stop with
    :meth:`stop`. Queries raise ``AssertionError`` on an API error. Not thread-safe.
    """

    def __init__(self, config: Path, port: int, data_dir: Path) -> None:
        self.config = config
        self.port = port
        self.data_dir = data_dir
        self.log_path = data_dir.parent / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary("prometheus"),
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"prometheus did not start: {self.log()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def api(self, path: str, **params: str | float) -> Any:
        query = urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path} {params}: {exc.code} {exc.read()[:500]!r}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> Vector:
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.api("query", **params)
        return list(data["result"]) if data["resultType"] == "vector" else [data]

    def query_range(self, expr: str, start: float, end: float, step_s: float = 1) -> Vector:
        data = self.api("query_range", query=expr, start=start, end=end, step=step_s)
        return list(data["result"])

    def values(self, expr: str, by: str | None = None) -> dict[str, float]:
        """Instant query → {label ``by`` (or ""): value}."""
        return {
            r["metric"].get(by, "") if by else "": float(r["value"][1]) for r in self.query(expr)
        }

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self.api("rules")["groups"] for r in g["rules"]]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- PromQL: the signal behind an alert ---------------------------------------------------

_SET_OPS = re.compile(r"\s(?:and|or|unless)\s")
# vector matching after a binary operator: `unless on () (...)`, `and ignoring (a) ...`
_MATCHING = re.compile(
    r"^\s*(?:(?:on|ignoring)\s*\([^)]*\)\s*)?(?:group_(?:left|right)\s*(?:\([^)]*\))?\s*)?"
)
_COMPARISONS = re.compile(r"(?:==|!=|>=|<=|>|<)(?:\s*bool)?")


def _top_level_spans(expr: str) -> list[int]:
    """Positions in ``expr`` outside any (), {}, [] and string."""
    depth, quote, top = 0, "", []
    for i, ch in enumerate(expr):
        if quote:
            quote = "" if ch == quote and expr[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif depth == 0:
            top.append(i)
    return top


def signal_queries(expr: str) -> list[str]:
    """The operands an alert compares, each of which must return data on a live service:
    ``A > 0 and B > 100`` → [A, B]; ``absent(X == 1)`` → [X]; ``X unless on () (Y == 1)``
    → [X, Y]."""
    expr = " ".join(expr.split())
    while expr.startswith("(") and expr.endswith(")") and _balanced(expr[1:-1]):
        expr = expr[1:-1].strip()
    top = set(_top_level_spans(expr))
    cuts = [m for m in _SET_OPS.finditer(expr) if m.start() in top]
    if cuts:
        bounds = [0, *(m.start() for m in cuts), len(expr)]
        ends = [0, *(m.end() for m in cuts)]
        parts = [expr[ends[i] : bounds[i + 1]] for i in range(len(cuts) + 1)]
        return [q for part in parts for q in signal_queries(_MATCHING.sub("", part, count=1))]
    cmp = [m for m in _COMPARISONS.finditer(expr) if m.start() in top]
    if cmp:
        return signal_queries(expr[: cmp[0].start()])
    inner = re.fullmatch(r"absent(?:_over_time)?\((.*)\)", expr)
    if inner:
        return signal_queries(re.sub(r"\[[^\]]+\]$", "", inner.group(1).strip()))
    return [expr]


def _balanced(inner: str) -> bool:
    """Whether ``inner`` never closes more brackets than it opened (so the outer pair of
    ``(inner)`` belong together)."""
    depth = 0
    for ch in inner:
        depth += ch in "({["
        depth -= ch in ")}]"
        if depth < 0:
            return False
    return depth == 0
