"""What every store checks before it touches anything: keys, prefixes, content types; and the URL signatures."""

from __future__ import annotations

import pytest

from serve.storage.base import (
    MAX_KEY_LENGTH,
    MAX_SEGMENT_LENGTH,
    InvalidKey,
    validate_content_type,
    validate_key,
    validate_prefix,
)
from serve.storage.signing import MIN_SIGNING_KEY_BYTES, SigningKeyError, UrlSigner, configured_signing_key

KEY = "0b9d7c1e-5f3a-4c2b-9e8d-1a2b3c4d5e6f/markdown_0/imgs/img_in_image_box_10_20_300_400.jpg"
NOW = 1_700_000_000


@pytest.mark.parametrize("key", [KEY, "log/layout_det_res_0.jpg", "log/export_0.docx", "a", "_x/y-z.v1",
                                 "a" * MAX_SEGMENT_LENGTH])
def test_keys_of_safe_relative_segments_are_valid(key):
    validate_key(key)


@pytest.mark.parametrize("key", [
    "", "/etc/passwd", "log//a.jpg", "log/", "..", ".", "../outside", "log/../../etc/passwd", "log/./a.jpg",
    "log\\..\\a.jpg", "C:/x", "log/a\x00.jpg", "log/a\n.jpg", "log/a b.jpg", "log/%2e%2e", "log%2Fa",
    ".url-signing-key", "log/.tmp-1234", "-rf", "log/é.jpg", "a" * (MAX_SEGMENT_LENGTH + 1),
    "/".join(["abcdefgh"] * (MAX_KEY_LENGTH // 9 + 2)),
])
def test_anything_else_is_an_invalid_key(key):
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_an_invalid_key_is_a_value_error_too():
    assert issubclass(InvalidKey, ValueError)


@pytest.mark.parametrize("prefix", ["ocrvl/results/", "r/"])
def test_a_prefix_is_segments_ending_in_a_slash(prefix):
    validate_prefix(prefix)


@pytest.mark.parametrize("prefix", ["", "/", "results", "/results/", "../results/", "a//"])
def test_empty_absolute_or_unterminated_prefixes_are_refused(prefix):
    with pytest.raises(InvalidKey):
        validate_prefix(prefix)


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/vnd.openxmlformats-officedocument"
                                          ".wordprocessingml.document", "text/plain; charset=utf-8"])
def test_content_types_are_accepted(content_type):
    validate_content_type(content_type)


@pytest.mark.parametrize("content_type", ["", "jpeg", "image/jpeg\r\nSet-Cookie: x=1", "image/ jpeg", "x" * 300])
def test_content_types_that_could_not_be_sent_back_as_a_header_are_refused(content_type):
    with pytest.raises(ValueError):
        validate_content_type(content_type)


def _signer(fill: bytes = b"k") -> UrlSigner:
    return UrlSigner(fill * MIN_SIGNING_KEY_BYTES)


def test_a_signature_verifies_for_its_key_and_expiry_until_it_expires():
    signer = _signer()
    signature = signer.signature(KEY, NOW + 60)
    assert signer.verified_expiry(KEY, str(NOW + 60), signature, NOW) == NOW + 60
    # Expired: at and after `expires`.
    assert signer.verified_expiry(KEY, str(NOW + 60), signature, NOW + 60) is None
    assert signer.verified_expiry(KEY, str(NOW + 60), signature, NOW + 61) is None


def test_a_signature_does_not_verify_for_another_key_expiry_or_signing_key():
    signer = _signer()
    signature = signer.signature(KEY, NOW + 60)
    assert signer.verified_expiry(KEY.replace("img_in", "img_xx"), str(NOW + 60), signature, NOW) is None
    assert signer.verified_expiry(KEY, str(NOW + 61), signature, NOW) is None
    assert signer.verified_expiry(KEY, str(NOW + 600000), signature, NOW) is None
    assert _signer(b"o").verified_expiry(KEY, str(NOW + 60), signature, NOW) is None


@pytest.mark.parametrize("expires, signature", [
    (None, "0" * 64), ("1", None), (None, None), ("-1", "0" * 64), ("1e9", "0" * 64), ("9" * 13, "0" * 64),
    (str(NOW + 60), "0" * 63), (str(NOW + 60), "G" * 64), (str(NOW + 60), "é" * 64),
])
def test_malformed_or_missing_values_do_not_verify(expires, signature):
    assert _signer().verified_expiry(KEY, expires, signature, NOW) is None


def test_an_uppercase_copy_of_a_valid_signature_does_not_verify():
    signer = _signer()
    signature = signer.signature(KEY, NOW + 60)
    assert signer.verified_expiry(KEY, str(NOW + 60), signature.upper(), NOW) is None


def test_no_configured_source_means_none(monkeypatch):
    monkeypatch.delenv("OCRVL_TEST_SIGNING_KEY", raising=False)
    assert configured_signing_key("OCRVL_TEST_SIGNING_KEY", None) is None
    assert configured_signing_key(None, None) is None


def test_the_key_comes_from_the_environment_or_a_file(monkeypatch, tmp_path):
    secret = "s" * MIN_SIGNING_KEY_BYTES
    monkeypatch.setenv("OCRVL_TEST_SIGNING_KEY", f"  {secret}\n")
    assert configured_signing_key("OCRVL_TEST_SIGNING_KEY", None) == secret.encode()
    monkeypatch.delenv("OCRVL_TEST_SIGNING_KEY")
    (tmp_path / "key").write_text(secret + "\n")
    assert configured_signing_key("OCRVL_TEST_SIGNING_KEY", str(tmp_path / "key")) == secret.encode()


@pytest.mark.parametrize("env_value, file_text", [
    ("", None),  # set but empty
    ("short", None),
    (None, ""),
    (None, "short"),
    ("s" * MIN_SIGNING_KEY_BYTES, "f" * MIN_SIGNING_KEY_BYTES),  # two sources: which one is meant?
])
def test_a_configured_source_that_cannot_be_used_fails(monkeypatch, tmp_path, env_value, file_text):
    monkeypatch.delenv("OCRVL_TEST_SIGNING_KEY", raising=False)
    if env_value is not None:
        monkeypatch.setenv("OCRVL_TEST_SIGNING_KEY", env_value)
    file = None
    if file_text is not None:
        file = tmp_path / "key"
        file.write_text(file_text)
    with pytest.raises(SigningKeyError):
        configured_signing_key("OCRVL_TEST_SIGNING_KEY", None if file is None else str(file))


def test_a_missing_key_file_fails(tmp_path):
    with pytest.raises(SigningKeyError, match="cannot read"):
        configured_signing_key(None, str(tmp_path / "absent"))
