"""Freezing a plan: the SHA-256 of its canonical JSON, a UTC timestamp, and the software that will analyse it.

The hash covers the pre-registration's content only, so the same plan gives the same hash whenever it is frozen;
the clock and the software versions are injectable so that tests (and golden documents) are byte-for-byte stable.
A plan frozen incomplete says so in its stamp: the keys of the items still missing or unconfirmed at that moment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from assistant.prereg.models import FreezeStamp, PlanDocument, PreRegistration

__all__ = ["Clock", "content_hash", "freeze", "software_versions", "verify"]

Clock = Callable[[], datetime]
SOFTWARE = ("whyscope", "numpy", "scipy", "statsmodels", "pandas")


def content_hash(prereg: PreRegistration | Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the pre-registration as canonical JSON (sorted keys, no spaces, UTF-8): of the model, or
    of its JSON content as a file stored it."""
    content = prereg.model_dump(mode="json") if isinstance(prereg, PreRegistration) else prereg
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def software_versions() -> dict[str, str]:
    """Installed versions of whyscope and the libraries its statistics rest on."""
    versions = {}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _now() -> datetime:
    return datetime.now(UTC)


def freeze(prereg: PreRegistration, *, clock: Clock = _now, software: Mapping[str, str] | None = None) -> PlanDocument:
    """The frozen document: the content, its hash, the UTC time of freezing, the software versions and the items
    still open (missing or unconfirmed) when it was frozen."""
    moment = clock()
    if moment.tzinfo is None:
        raise ValueError("the clock must return a timezone-aware datetime")
    stamp = FreezeStamp(
        frozen_at=moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        content_hash=content_hash(prereg),
        software=dict(software if software is not None else software_versions()),
        missing_items=tuple(i.key for i in prereg.items if i.status == "missing"),
        unconfirmed_items=tuple(i.key for i in prereg.items if i.status == "unconfirmed"),
    )
    return PlanDocument(prereg=prereg, freeze=stamp)


def verify(document: PlanDocument, stored: Mapping[str, Any] | None = None) -> bool:
    """True when a frozen document's content still matches its hash (False for an unfrozen draft).

    ``stored``: the document's ``prereg`` as read from its file or session record. The hash is then checked on
    those stored values, so a plan frozen by an earlier version still verifies after a tool's request gained a field
    (the model would add it, empty, to the content it hashes)."""
    if document.freeze is None:
        return False
    return document.freeze.content_hash == content_hash(stored if stored is not None else document.prereg)
