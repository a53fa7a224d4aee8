"""A private CA and a server certificate for the local cluster's TLS listeners (openssl).

Layout under ``<dir>``::

    ca.pem, ca.key       the CA (clients trust ca.pem: ``KAFKA__SSL_CA_LOCATION``)
    server.pem/.key      the brokers' certificate, SAN IP:127.0.0.1 and DNS:localhost, so
                         clients verify the host name (endpoint identification ``https``)
    server.p12           the same as a PKCS12 keystore for the JVM, password in keystore-password
    .complete            written last; its absence (or a certificate expiring within a day)
                         makes ``ensure_tls`` generate everything again

Every function blocks for the openssl calls it makes (well under a second each).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from consumer.errors import BrokerError, ToolMissingError

VALID_DAYS = 30
RENEW_WITHIN_S = 86_400
OPENSSL_TIMEOUT_S = 60.0
SERVER_SAN = "IP:127.0.0.1,DNS:localhost"


@dataclass(frozen=True)
class TlsFiles:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.root / "server.p12"

    @property
    def password_file(self) -> Path:
        return self.root / "keystore-password"

    def keystore_password(self) -> str:
        return self.password_file.read_text().strip()


def ensure_tls(root: Path) -> TlsFiles:
    """Generate the CA, the server certificate and the keystore unless present and valid
    for more than a day. Blocks (openssl). Raises ToolMissingError without openssl,
    BrokerError when openssl fails."""
    files = TlsFiles(root)
    if (root / ".complete").is_file() and _valid_for(files.root / "server.pem", RENEW_WITHIN_S):
        return files
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ToolMissingError("`openssl` not found on PATH: install it (apt-get install openssl)")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, mode=0o700)
    make_ca(openssl, root, "moodstream local CA")
    _server_certificate(openssl, root)
    password = secrets.token_urlsafe(18)
    _write_private(files.password_file, password + "\n")
    _openssl(
        openssl,
        "pkcs12",
        "-export",
        "-in",
        str(root / "server.pem"),
        "-inkey",
        str(root / "server.key"),
        "-certfile",
        str(files.ca),
        "-name",
        "server",
        "-out",
        str(files.keystore),
        "-passout",
        f"pass:{password}",
    )
    (root / ".complete").write_text("ok\n")
    return files


def make_ca(openssl: str, root: Path, name: str) -> Path:
    """A self-signed CA (``ca.pem``, ``ca.key``) in ``root``; returns ``ca.pem``. Blocks."""
    _openssl(
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-keyout",
        str(root / "ca.key"),
        "-out",
        str(root / "ca.pem"),
        "-days",
        str(VALID_DAYS),
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    return root / "ca.pem"


def _server_certificate(openssl: str, root: Path) -> None:
    _openssl(
        openssl,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha256",
        "-keyout",
        str(root / "server.key"),
        "-out",
        str(root / "server.csr"),
        "-subj",
        "/CN=localhost",
    )
    extensions = root / "server.ext"
    extensions.write_text(
        f"subjectAltName={SERVER_SAN}\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
    )
    _openssl(
        openssl,
        "x509",
        "-req",
        "-in",
        str(root / "server.csr"),
        "-sha256",
        "-CA",
        str(root / "ca.pem"),
        "-CAkey",
        str(root / "ca.key"),
        "-CAcreateserial",
        "-days",
        str(VALID_DAYS),
        "-extfile",
        str(extensions),
        "-out",
        str(root / "server.pem"),
    )


def _valid_for(cert: Path, seconds: int) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None or not cert.is_file():
        return False
    done = subprocess.run(
        [openssl, "x509", "-checkend", str(seconds), "-noout", "-in", str(cert)],
        capture_output=True,
        timeout=OPENSSL_TIMEOUT_S,
        check=False,
    )
    return done.returncode == 0


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _openssl(openssl: str, *args: str) -> None:
    try:
        done = subprocess.run(
            [openssl, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=OPENSSL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(f"openssl {args[0]} took over {OPENSSL_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise BrokerError(f"openssl {args[0]} failed (exit {done.returncode}):\n{tail}")
