"""Toxiproxy (Shopify's TCP fault proxy): installed on demand, started as a process, driven
over its HTTP API.

- ``ensure_server(cache_dir)``: the server binary, built once with ``go install`` from the
  Go module proxy into ``<cache_dir>/toxiproxy/<version>/`` (module cache beside it).
- ``ToxiproxyProcess``: start/stop one server on 127.0.0.1 (a pid file, so another process
  finds and stops it).
- ``ToxiproxyClient``: proxies and toxics over ``http://127.0.0.1:<port>`` (stdlib
  ``urllib``; every call blocks up to ``timeout_s``, raises ``BrokerError``; thread-safe,
  it keeps no state but the address).

Toxics used by the chaos suite (see RELIABILITY.md): ``timeout`` (timeout 0: data dropped,
the connection kept open; removing it closes the connection), ``latency`` (+ jitter),
``bandwidth`` (KB/s), ``reset_peer`` (a TCP RST after ``timeout`` ms of data).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from consumer.errors import BrokerError, ToolMissingError
from consumer.localkafka import broker_proc as proc_util

TOXIPROXY_VERSION = "v2.5.0"  # the newest the Go module proxy serves for .../toxiproxy/v2
MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
INSTALL_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 20.0
HOST = "127.0.0.1"

Stream = Literal["upstream", "downstream"]


def server_path(cache_dir: Path, version: str = TOXIPROXY_VERSION) -> Path:
    return cache_dir / "toxiproxy" / version / "toxiproxy-server"


def ensure_server(cache_dir: Path, version: str = TOXIPROXY_VERSION) -> Path:
    """The server binary; built with ``go install`` on first use (about a minute, the
    module cache kept under ``<cache_dir>/toxiproxy/gopath``). Blocks; raises
    ToolMissingError without ``go``, BrokerError when the build fails."""
    binary = server_path(cache_dir, version)
    if binary.is_file():
        return binary
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        raise ToolMissingError(
            "the fault proxy needs Go to build Toxiproxy once (`go install "
            f"{MODULE}@{version}`): install Go (apt-get install golang-go) and retry"
        )
    build_dir = binary.parent / "build"
    env = {
        **os.environ,
        "GOBIN": str(build_dir),
        "GOPATH": str(cache_dir / "toxiproxy" / "gopath"),
        "GOFLAGS": "-modcacherw",
    }
    try:
        proc = subprocess.run(
            [go, "install", f"{MODULE}@{version}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(f"building Toxiproxy took over {INSTALL_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        raise BrokerError(f"`go install {MODULE}@{version}` failed:\n{proc.stderr[-2000:]}")
    (build_dir / "server").replace(binary)
    shutil.rmtree(build_dir, ignore_errors=True)
    return binary


@dataclass(frozen=True)
class ToxiproxyProcess:
    """One Toxiproxy server: ``binary`` serving its API on ``HOST:api_port``."""

    binary: Path
    api_port: int
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "toxiproxy.pid"

    def pid(self) -> int | None:
        return proc_util.live_pid(self.pid_file, str(self.binary))

    def start(self) -> ToxiproxyClient:
        """Start the server unless it runs; return its client once the API answers.
        Blocks up to READY_TIMEOUT_S; raises BrokerError if it does not come up."""
        client = ToxiproxyClient(self.api_port)
        if self.pid() is None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with open(self.state_dir / "toxiproxy.out", "wb") as out:
                proc = subprocess.Popen(
                    [str(self.binary), "-host", HOST, "-port", str(self.api_port)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not client.answers():
            if time.monotonic() >= deadline:
                tail = proc_util.tail(self.state_dir / "toxiproxy.out", 10)
                self.stop()  # never leave a server that did not come up
                raise BrokerError(f"Toxiproxy did not answer on port {self.api_port}:\n{tail}")
            time.sleep(0.1)
        return client

    def stop(self) -> int | None:
        """SIGTERM the server (SIGKILL after a while); return its pid, None if none ran."""
        pid = self.pid()
        if pid is not None:
            proc_util.terminate(pid)
        self.pid_file.unlink(missing_ok=True)
        return pid


class ToxiproxyClient:
    """Toxiproxy's HTTP API (see the module docstring)."""

    def __init__(self, api_port: int, timeout_s: float = 5.0) -> None:
        self._base = f"http://{HOST}:{api_port}"
        self._timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise BrokerError(f"Toxiproxy {method} {path}: HTTP {exc.code} {detail}") from None
        except OSError as exc:
            raise BrokerError(f"Toxiproxy {method} {path}: {exc}") from None
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:  # /version answers plain text in some releases
            return text.decode(errors="replace")

    def answers(self) -> bool:
        try:
            self._call("GET", "/version")
            return True
        except BrokerError:
            return False

    def proxies(self) -> dict[str, Any]:
        """name -> the proxy as the API shows it (listen, upstream, enabled, toxics)."""
        return dict(self._call("GET", "/proxies"))

    def ensure_proxy(self, name: str, listen_port: int, upstream_port: int) -> None:
        """Create the proxy ``HOST:listen_port`` -> ``HOST:upstream_port`` unless one with
        this name and addresses exists (another is deleted and created anew)."""
        listen, upstream = f"{HOST}:{listen_port}", f"{HOST}:{upstream_port}"
        existing = self.proxies().get(name)
        if existing and existing.get("listen") == listen and existing.get("upstream") == upstream:
            self.set_enabled(name, True)
            return
        if existing:
            self._call("DELETE", f"/proxies/{name}")
        self._call(
            "POST",
            "/proxies",
            {"name": name, "listen": listen, "upstream": upstream, "enabled": True},
        )

    def set_enabled(self, name: str, enabled: bool) -> None:
        """A disabled proxy closes its connections and refuses new ones."""
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def add_toxic(
        self,
        proxy: str,
        toxic: str,
        kind: str,
        stream: Stream,
        attributes: dict[str, int],
        toxicity: float = 1.0,
    ) -> None:
        """Add toxic ``toxic`` of type ``kind`` (``timeout``, ``latency``, ...) to every
        connection of ``proxy``, open ones included, in one direction."""
        self._call(
            "POST",
            f"/proxies/{proxy}/toxics",
            {
                "name": toxic,
                "type": kind,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes,
            },
        )

    def remove_toxic(self, proxy: str, toxic: str, *, missing_ok: bool = False) -> None:
        """Remove a toxic; with ``missing_ok`` one that is already gone (a ``reset`` by
        another caller) is no error."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}")
        except BrokerError as exc:
            if not (missing_ok and "HTTP 404" in str(exc)):
                raise

    def reset(self) -> None:
        """Every proxy enabled again and every toxic removed."""
        self._call("POST", "/reset")
