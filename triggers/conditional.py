"""Conditional GETs (RFC 9110 §8.8.3, §13.1.2): an entity tag for a response body, and
whether a request's If-None-Match lets the answer be 304 Not Modified.

The tag is a hash of the exact bytes the answer would carry, not the Cosmos `_etag` of the
document behind it: a body may hold more than one document (a page of jobs, its
continuation token) or values computed at read time (reconciliation, summaries that other
code shapes), and a hash changes exactly when the bytes do, whatever shapes them. Hashing a
few kilobytes costs microseconds next to the read that produced them. Equal bytes make the
tag a strong validator.
"""

from __future__ import annotations

import hashlib
import re

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = "!" / %x23-7E / obs-text (§8.8.3).
# A tag may hold a comma, so a list is matched as the grammar says, never split on commas;
# empty list elements are allowed (#rule, §5.6.1).
_TAG = r'(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"'
_TAG_LIST = re.compile(rf"(?:{_TAG})?(?:[ \t]*,[ \t]*(?:{_TAG})?)*")
_TAGS = re.compile(_TAG)


def entity_tag(body: bytes) -> str:
    """A strong entity tag for these bytes: 128 bits of their SHA-256, quoted."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def parse_if_none_match(value: str) -> list[str] | None:
    """The opaque tags of an If-None-Match value ("W/" dropped: §13.1.2 compares weakly),
    ["*"] for "*", or None when the value is not the field's grammar (then it is ignored,
    as a request without it would be)."""
    text = value.strip(" \t")
    if text == "*":
        return ["*"]
    if not _TAG_LIST.fullmatch(text):
        return None
    return [f'"{opaque}"' for opaque in _TAGS.findall(text)] or None


def not_modified(if_none_match: str | None, current: str) -> bool:
    """True when the If-None-Match condition is false for a resource whose representation
    has the tag `current`: "*" (it exists), or a listed tag that matches by weak comparison
    (the opaque tags are equal, weak or not). A GET then answers 304."""
    if not if_none_match:
        return False
    tags = parse_if_none_match(if_none_match)
    if tags is None:
        return False
    opaque = current.removeprefix("W/")
    return tags == ["*"] or opaque in tags
