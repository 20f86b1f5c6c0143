"""Stored key hashes are peppered HMACs: same key and pepper -> same hash, else not."""

from __future__ import annotations

from pydantic import SecretStr

from bookmarkai_ml.services.apikeys import hash_key


def test_hash_is_hmac_sha256_hex_and_peppered() -> None:
    a = hash_key("bkml_abc", pepper=SecretStr("one"))
    assert len(a) == 64
    assert a == hash_key("bkml_abc", pepper=SecretStr("one"))
    assert a != hash_key("bkml_abc", pepper=SecretStr("two"))
    assert a != hash_key("bkml_abd", pepper=SecretStr("one"))
