"""`[proxy] tls`'s files: every way a pair can be wrong, each with its spec key and the
file; what may be shown of a pair; the reload decision driven with a fake file view."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover import tlsfiles
from changeover.spec.load import SpecError, load_spec_text
from changeover.tlsfiles import Pair, Refuse, Take, TlsFileError, Watch, digest, parse_pair
from tests.tlscerts import Issued, issue

CA = trustme.CA()


@pytest.fixture
def pair_files(tmp_path: Path) -> Issued:
    return issue(CA, tmp_path, "first")


def refusal(cert: Path, key: Path) -> TlsFileError:
    with pytest.raises(TlsFileError) as exc:
        tlsfiles.load_pair(cert, key)
    return exc.value


def test_a_good_pair_is_described_by_subject_expiry_and_fingerprint(pair_files: Issued) -> None:
    pair = tlsfiles.load_pair(pair_files.cert, pair_files.key)
    assert pair.fingerprint == pair_files.sha256
    assert "OU=first" in pair.subject
    described = pair.describe()
    assert set(described) == {"subject", "not_after", "sha256"}
    assert described["not_after"].endswith("Z")
    assert pair.summary().startswith(f"subject {pair.subject}, not after ")


def test_the_key_never_shows_in_repr_describe_or_summary(pair_files: Issued) -> None:
    pair = tlsfiles.load_pair(pair_files.cert, pair_files.key)
    key = pair_files.key.read_bytes()
    body = key.splitlines()[1].decode()  # a line of the key's base64
    for text in (repr(pair), str(pair.describe()), pair.summary()):
        assert body not in text
        assert "PRIVATE" not in text
    assert pair.combined.endswith(key)


def test_a_missing_certificate_names_the_key_and_the_file(pair_files: Issued) -> None:
    gone = pair_files.cert.with_name("nothing.pem")
    exc = refusal(gone, pair_files.key)
    assert (exc.key, str(exc)) == ("proxy.tls.cert", f"{gone} does not exist")


def test_a_missing_key_names_the_key_and_the_file(pair_files: Issued) -> None:
    gone = pair_files.key.with_name("nothing.key")
    exc = refusal(pair_files.cert, gone)
    assert (exc.key, str(exc)) == ("proxy.tls.key", f"{gone} does not exist")


def test_a_folder_is_not_a_certificate(pair_files: Issued) -> None:
    exc = refusal(pair_files.cert.parent, pair_files.key)
    assert exc.key == "proxy.tls.cert"
    assert "is not a regular file" in str(exc)


def test_a_file_that_is_no_pem_certificate_is_refused(pair_files: Issued) -> None:
    pair_files.cert.write_bytes(b"hello\n")
    exc = refusal(pair_files.cert, pair_files.key)
    assert exc.key == "proxy.tls.cert"
    assert str(exc).startswith(f"{pair_files.cert} is not a PEM certificate")


def test_a_key_where_the_certificate_should_be_is_refused(pair_files: Issued) -> None:
    exc = refusal(pair_files.key, pair_files.key)
    assert exc.key == "proxy.tls.cert"
    assert "is not a PEM certificate" in str(exc)


def test_a_file_that_is_no_pem_key_is_refused(pair_files: Issued) -> None:
    pair_files.key.write_bytes(pair_files.cert.read_bytes())
    exc = refusal(pair_files.cert, pair_files.key)
    assert exc.key == "proxy.tls.key"
    assert str(exc).startswith(f"{pair_files.key} is not a PEM private key")


def test_a_key_of_another_certificate_is_refused(tmp_path: Path, pair_files: Issued) -> None:
    other = issue(CA, tmp_path / "other", "other")
    exc = refusal(pair_files.cert, other.key)
    assert exc.key == "proxy.tls.key"
    assert str(exc) == (
        f"{other.key} is not the private key of the certificate in {pair_files.cert} "
        "(their public keys differ)"
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_open_to_group_or_others_is_refused_with_chmod(pair_files: Issued, mode: int) -> None:
    pair_files.key.chmod(mode)
    exc = refusal(pair_files.cert, pair_files.key)
    assert exc.key == "proxy.tls.key"
    assert str(exc) == (
        f"{pair_files.key} is open to group or others (mode {mode:04o}), so other users "
        f"could read the private key; run `chmod 600 {pair_files.key}`"
    )


def test_the_certificate_may_be_readable_by_all(pair_files: Issued) -> None:
    pair_files.cert.chmod(0o644)
    assert tlsfiles.load_pair(pair_files.cert, pair_files.key).fingerprint == pair_files.sha256


@settings(max_examples=200)
@given(st.binary(max_size=400), st.binary(max_size=400))
def test_any_other_bytes_are_a_tls_file_error_naming_a_key(cert: bytes, key: bytes) -> None:
    with pytest.raises(TlsFileError) as exc:
        parse_pair(cert, key, "c", "k")
    assert exc.value.key in ("proxy.tls.cert", "proxy.tls.key")


_LEAF = CA.issue_cert("localhost")
GOOD_CERT, GOOD_KEY = _LEAF.cert_chain_pems[0].bytes(), _LEAF.private_key_pem.bytes()


def outcome(cert: bytes, key: bytes) -> str:
    try:
        parse_pair(cert, key, "c", "k")
    except TlsFileError as exc:
        return exc.key
    return "pair"


@settings(max_examples=100)
@given(st.binary(max_size=300), st.sampled_from(["cert", "key"]))
def test_noise_after_a_good_pair_parses_or_names_the_file_it_spoiled(
    noise: bytes, where: str
) -> None:
    cert, key = (GOOD_CERT + noise, GOOD_KEY) if where == "cert" else (GOOD_CERT, GOOD_KEY + noise)
    assert outcome(cert, key) in ("pair", f"proxy.tls.{where}")


SPEC = """
[app]
name = "web"
command = "python app.py"

[proxy]
tls = {{ cert = "{cert}", key = "{key}" }}
"""


def test_the_spec_refuses_a_mismatched_pair_naming_its_key(tmp_path: Path) -> None:
    one, two = issue(CA, tmp_path / "a"), issue(CA, tmp_path / "b")
    text = SPEC.format(cert="a/cert.pem", key="b/key.pem")
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "changeover.toml", base=tmp_path)
    (line,) = exc.value.lines()
    assert line.startswith(f"changeover.toml: proxy.tls.key: {two.key} is not the private key")
    assert str(one.cert) in line


def test_the_spec_resolves_the_files_from_its_folder(tmp_path: Path) -> None:
    issue(CA, tmp_path / "tls")
    spec = load_spec_text(
        SPEC.format(cert="tls/cert.pem", key="tls/key.pem"), "changeover.toml", base=tmp_path
    )
    assert spec.proxy.tls is not None
    assert (spec.proxy.tls.cert, spec.proxy.tls.key) == ("tls/cert.pem", "tls/key.pem")


def test_the_spec_refuses_a_missing_certificate(tmp_path: Path) -> None:
    issue(CA, tmp_path)
    with pytest.raises(SpecError) as exc:
        load_spec_text(SPEC.format(cert="gone.pem", key="key.pem"), "c.toml", base=tmp_path)
    assert exc.value.lines() == [f"c.toml: proxy.tls.cert: {tmp_path / 'gone.pem'} does not exist"]


def test_the_spec_needs_both_files(tmp_path: Path) -> None:
    text = '[app]\nname = "web"\ncommand = "x"\n[proxy]\ntls = { cert = "c.pem" }\n'
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, "c.toml")
    assert any("proxy.tls.key" in line for line in exc.value.lines())


# -- the reload decision, on a fake view of the files ----------------------------------


def fake_pair(name: str) -> Pair:
    from datetime import UTC, datetime

    return Pair(b"C" + name.encode(), b"K", f"CN={name}", datetime(2030, 1, 1, tzinfo=UTC), name)


OLD, NEW = fake_pair("old"), fake_pair("new")
STAMPS = ((1, 1, 1, 1), (1, 2, 1, 1))
MOVED = ((1, 3, 2, 1), (1, 2, 1, 1))
MOVED_AGAIN = ((1, 3, 2, 1), (1, 4, 2, 1))
BAD = TlsFileError("proxy.tls.key", "k.pem is not the private key of the certificate in c.pem")


def watch() -> Watch:
    return Watch(OLD, STAMPS, "old-content")


def test_unchanged_stamps_read_nothing() -> None:
    w = watch()
    assert not w.changed(STAMPS)


def test_moved_stamps_are_read_once() -> None:
    w = watch()
    assert w.changed(MOVED)
    assert not w.changed(MOVED)


def test_files_touched_but_the_same_content_change_nothing() -> None:
    w = watch()
    assert w.changed(MOVED)
    assert w.read("old-content", OLD) is None
    assert w.serving is OLD


def test_a_valid_new_pair_is_taken() -> None:
    w = watch()
    w.changed(MOVED)
    verdict = w.read("new-content", NEW)
    assert isinstance(verdict, Take)
    assert verdict.pair is NEW
    assert w.serving is NEW
    assert w.read("new-content", NEW) is None  # taken once


def test_a_half_written_pair_is_refused_once_and_the_next_change_taken() -> None:
    w = watch()
    w.changed(MOVED)  # the new certificate, the old key
    assert w.read("half", BAD) == Refuse(f"proxy.tls.key: {BAD}")
    assert w.serving is OLD
    assert w.read("half", BAD) is None  # said already
    assert w.changed(MOVED_AGAIN)  # the key follows
    assert isinstance(w.read("whole", NEW), Take)
    assert w.serving is NEW


def test_the_same_bad_content_is_said_again_after_a_good_one() -> None:
    w = watch()
    assert isinstance(w.read("bad", BAD), Refuse)
    assert isinstance(w.read("new", NEW), Take)
    assert isinstance(w.read("bad", BAD), Refuse)


def test_files_put_back_after_a_refusal_change_nothing() -> None:
    w = watch()
    assert isinstance(w.read("bad", BAD), Refuse)
    assert w.read("old-content", OLD) is None
    assert isinstance(w.read("bad", BAD), Refuse)


def test_an_engine_refusal_undoes_the_take() -> None:
    w = watch()
    verdict = w.read("new", NEW)
    assert isinstance(verdict, Take)
    w.undo(verdict)
    assert w.serving is OLD
    assert w.read("new", NEW) is None  # the same content is not retried...
    assert isinstance(w.read("newer", NEW), Take)  # ...a next change is


def test_the_content_digest_tells_a_moved_boundary_apart() -> None:
    assert digest(b"ab", b"c") != digest(b"a", b"bc")
    assert digest(b"a", b"b") == digest(b"a", b"b")
    assert len(digest(b"", b"")) == len(hashlib.sha256().hexdigest())


def test_look_reads_real_files_and_takes_a_swapped_pair(tmp_path: Path) -> None:
    first = issue(CA, tmp_path, "first")
    w = tlsfiles.start_watch(first.cert, first.key)
    assert tlsfiles.look(w, first.cert, first.key) is None
    key_only = issue(CA, tmp_path / "next", "second")
    (tmp_path / "key.pem").write_bytes(key_only.key.read_bytes())  # the key first: a half
    verdict = tlsfiles.look(w, first.cert, first.key)
    assert isinstance(verdict, Refuse)
    assert verdict.reason.startswith("proxy.tls.key: ")
    assert "PRIVATE" not in verdict.reason
    (tmp_path / "cert.pem").write_bytes(key_only.cert.read_bytes())
    taken = tlsfiles.look(w, first.cert, first.key)
    assert isinstance(taken, Take)
    assert taken.pair.fingerprint == key_only.sha256
