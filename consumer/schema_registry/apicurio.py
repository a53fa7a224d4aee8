"""Compatibility NONE on a Protobuf output subject, on Confluent's registry and on Apicurio.

confluent-kafka's ProtobufSerializer registers a base64 ``FileDescriptorProto``. Apicurio
stores it, but its compatibility check cannot parse it: with BACKWARD (the local
registry's global rule) a *changed* Protobuf schema under the subject gets HTTP 500
("Syntax error ... unexpected label"). Its Confluent API maps a subject's ``NONE`` to
"no subject rule", so the global BACKWARD still applies; only Apicurio's own API sets a
per-artifact ``COMPATIBILITY`` rule of ``NONE``. For a registry URL of Apicurio's
Confluent API (``.../apis/ccompat/v6``) that rule is set there; for any registry the
subject's compatibility is also set to NONE through the Confluent API. Either may be
refused (credentials without config rights): that is logged, and the registration that
follows says whether it matters. Blocks on the registry (its timeout per request).
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from consumer.settings import SchemaRegistrySettings

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

CCOMPAT_PATH: Final = "/apis/ccompat/"
_log = logging.getLogger("moodstream.schema_registry")


def artifact_rules_url(registry_url: str, subject: str) -> str | None:
    """Apicurio's rules URL of the subject's artifact (group ``default``), or None when
    ``registry_url`` is not Apicurio's Confluent API. Pure."""
    base, found, _ = registry_url.partition(CCOMPAT_PATH)
    if not found:
        return None
    return f"{base}/apis/registry/v2/groups/default/artifacts/{quote(subject, safe='')}/rules"


def compatibility_none(
    settings: SchemaRegistrySettings, client: SchemaRegistryClient
) -> Callable[[str], None]:
    """What sets compatibility NONE on a subject that exists (see the module's doc)."""

    def relax(subject: str) -> None:
        try:
            client.set_compatibility(subject_name=subject, level="NONE")
        except Exception as exc:  # refused or not supported: the registration decides
            _log.info("compatibility NONE not set on %s: %s", subject, type(exc).__name__)
        rules_url = artifact_rules_url(settings.url, subject)
        if rules_url is not None:
            _apicurio_rule_none(settings, rules_url, subject)

    return relax


def _apicurio_rule_none(settings: SchemaRegistrySettings, rules_url: str, subject: str) -> None:
    body = json.dumps({"type": "COMPATIBILITY", "config": "NONE"}).encode()
    try:
        status = _send(settings, rules_url, "POST", body)
        if status == 409:  # the artifact has the rule already: update it
            status = _send(settings, f"{rules_url}/COMPATIBILITY", "PUT", body)
    except OSError as exc:  # refused, reset, timed out, TLS
        _log.info("Apicurio rule not set on %s: %s", subject, type(exc).__name__)
        return
    if status >= 300:
        _log.info("Apicurio rule not set on %s: HTTP %d", subject, status)


def _send(settings: SchemaRegistrySettings, url: str, method: str, body: bytes) -> int:
    """One JSON request with the registry's credentials and TLS; returns the HTTP status.
    Raises OSError when there is no answer."""
    headers = {"Content-Type": "application/json"}
    if settings.basic_auth_user_info is not None:
        secret = settings.basic_auth_user_info.get_secret_value().encode()
        headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
    context = None
    if settings.ssl_ca_location or settings.ssl_certificate_location:
        context = ssl.create_default_context(cafile=settings.ssl_ca_location)
        if settings.ssl_certificate_location:
            context.load_cert_chain(settings.ssl_certificate_location, settings.ssl_key_location)
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_s, context=context) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
