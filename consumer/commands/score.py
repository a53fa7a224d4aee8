"""``moodstream score --from FILE [--expect FILE] [--tolerance X] [--json] [--dir DIR]``.

Scores JSON-lines FeatureEvents offline, without Kafka, through the service's own code:
the models load as ``run`` loads them (``load_model_set``: checksums, formats, clinical
validity), the ensemble is built by the worker's composition root (``build_ensemble``,
warm-up included) and each chunk of lines goes through ``Pipeline.process``: the same
decode, ensemble and prediction building as a worker, the lines standing in for records
(offset = line number). Predictions go to stdout as JSON lines, as the service writes them.
Offline there is no deadline to keep: model timeouts are raised to at least 10 minutes
and ``ENSEMBLE__PAT_MAX_EVENT_AGE_S`` is off, so no model is skipped for being slow or an
event for being old. Exit 0 (all scored, matching ``--expect``), 5 (a prediction differs),
1 (an invalid line, or models that do not load), 2 (bad arguments).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from consumer.commands.models_files import with_models_dir
from consumer.commands.score_compare import differences, read_predictions, shown
from consumer.errors import ConfigError
from consumer.settings import Settings

EXIT_DIFFERENT: Final = 5
_OFFLINE_TIMEOUT_S: Final = 600.0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "score",
        help="score JSON-lines events offline through the service's own code path; "
        "compare with expected predictions",
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        metavar="FILE",
        help="JSON lines, one FeatureEvent each (- reads stdin), whatever "
        "PROCESSING__INPUT_FORMAT says",
    )
    parser.add_argument(
        "--expect", type=Path, metavar="FILE", help="expected predictions (JSON lines)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-6, help="largest |Δ| of a number (1e-6)"
    )
    parser.add_argument("--json", action="store_true", help="the summary on stderr as JSON")
    parser.add_argument(
        "--dir", type=Path, default=None, help="models directory (default: MODELS__DIR)"
    )
    parser.set_defaults(handler=handle)


@dataclass(frozen=True)
class _Line:
    """One input line as the pipeline sees a consumed record."""

    topic_name: str
    number: int
    data: bytes

    def topic(self) -> str:
        return self.topic_name

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.number

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes:
        return self.data


def offline_settings(settings: Settings, models_dir: Path | None) -> Settings:
    """The service's settings for scoring without a deadline (see the module doc). Pure."""
    ens = settings.ensemble
    relaxed = ens.model_copy(
        update={
            "xgboost_timeout_s": max(ens.xgboost_timeout_s, _OFFLINE_TIMEOUT_S),
            "pat_timeout_s": max(ens.pat_timeout_s, _OFFLINE_TIMEOUT_S),
            "slowdown_factor": 1e9,
            "pat_max_event_age_s": None,
        }
    )
    return with_models_dir(settings, models_dir).model_copy(update={"ensemble": relaxed})


def _lines(path: Path, topic: str) -> Iterator[_Line]:
    """The non-blank lines of ``path`` (``-``: stdin), numbered from 1. Raises ConfigError
    if unreadable."""
    try:
        raw = (sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()).splitlines()
    except OSError as exc:
        raise ConfigError(f"--from {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(raw, start=1):
        if line.strip():
            yield _Line(topic, number, line)


def score_file(settings: Settings, path: Path) -> tuple[list[bytes], list[str]]:
    """(prediction values, one message per invalid line) for the events in ``path``.
    Blocking: loads the models and scores every line. Raises ModelLoadError, ConfigError."""
    from consumer.clock import SystemClock
    from consumer.engine.batch_records import Polled
    from consumer.engine.pipeline import Pipeline
    from consumer.models.registry import load_model_set
    from consumer.models.threads import apply_thread_caps
    from consumer.service.wiring import build_ensemble

    lines = list(_lines(path, settings.topics.features))
    # Invalid lines are named in the summary; the worker's periodic log line would repeat it.
    logging.getLogger("moodstream.pipeline").setLevel(logging.ERROR)
    apply_thread_caps(settings.models)
    models = load_model_set(settings.models)
    clock = SystemClock()
    ensemble, executors = build_ensemble(settings, models, clock)
    pipeline = Pipeline(ensemble, settings, clock)
    predictions: list[bytes] = []
    invalid: list[str] = []
    step = settings.processing.max_batch_size
    try:
        for start in range(0, len(lines), step):
            now = clock.monotonic()
            result = pipeline.process([Polled(line, now) for line in lines[start : start + step]])
            for source in result.sources:
                for record in source.records:
                    if record.kind == "prediction" and record.value is not None:
                        predictions.append(record.value)
                    elif record.kind == "dead_letter":
                        invalid.append(f"line {source.offset}: {_why(record.headers)}")
    finally:
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)
    return predictions, invalid


def _why(headers: list[tuple[str, bytes]] | None) -> str:
    found = dict(headers or ())
    return found.get("error.message", b"invalid").decode("utf-8", "replace")


def handle(args: argparse.Namespace, settings: Settings) -> int:
    """Score ``--from``, print the predictions, compare with ``--expect``. Blocking.
    Raises ConfigError for unreadable files, ModelLoadError for models that do not load."""
    if args.tolerance < 0:
        raise ConfigError("--tolerance must be >= 0")
    expected = None
    if args.expect is not None:
        try:
            expected = read_predictions(args.expect.read_bytes().splitlines(), str(args.expect))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--expect {args.expect}: {exc}") from None
    values, invalid = score_file(offline_settings(settings, args.dir), args.source)
    for value in values:
        sys.stdout.write(value.decode() + "\n")
    sys.stdout.flush()
    found = []
    if expected is not None:
        found = differences((json.loads(v) for v in values), expected, args.tolerance)
    _summary(args, len(values), invalid, found)
    if invalid:
        return 1
    return EXIT_DIFFERENT if found else 0


def _summary(args: argparse.Namespace, scored: int, invalid: list[str], found: list[str]) -> None:
    """The outcome on stderr: text, or one JSON object with ``--json``."""
    if args.json:
        report = {
            "scored": scored,
            "invalid": invalid,
            "compared": args.expect is not None,
            "differences": found,
        }
        print(json.dumps(report), file=sys.stderr)
        return
    for line in shown(invalid):
        print(f"moodstream: invalid {line}", file=sys.stderr)
    for line in shown(found):
        print(f"moodstream: differs: {line}", file=sys.stderr)
    verdict = ""
    if args.expect is not None:
        verdict = f"; {len(found)} differences from {args.expect}" if found else "; all match"
    print(f"scored {scored} events, {len(invalid)} invalid{verdict}", file=sys.stderr)
