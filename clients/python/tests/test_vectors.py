"""The shared vectors of docs/vectors/ (written by the reference implementation), byte for byte.

Skipped when the repository has no docs/vectors/ directory.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa, x25519

import sxfer_client
from sxfer_client import auth, messages, suites
from sxfer_client.codec import Reader, Writer
from sxfer_client.errors import CryptoFailure, DecodeError, ProtocolViolation
from sxfer_client.handshake import (
    KEX_MLKEM768X25519,
    KEX_X25519,
    L_CLIENT_SIG,
    KexPrivate,
    client_hello,
    hkdf_extract,
    hybrid_client_share,
    hybrid_secret,
    key_schedule,
    parse_server_hello,
    split_hybrid_share,
    verify_server_hello,
)
from sxfer_client.identity import PrivateKey
from sxfer_client.names import name_problem
from sxfer_client.record import T_CLOSE, T_KEY_UPDATE, T_MESSAGE, Direction, RecordLayer

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "vectors"

pytestmark = pytest.mark.skipif(not VECTORS.is_dir(), reason="docs/vectors/ is not in this checkout")


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def check_record(v: dict[str, Any]) -> None:
    """Seal the plaintext and compare with the record; open the record and compare back."""
    suite = suites.BY_CODE[v["suite_code"]]
    assert suite.name == v["suite"]
    secret = h(v["traffic_secret"])
    sender = Direction(suite, secret)
    sender.seq = v["seq"]
    assert sender.nonce() == h(v["nonce"])
    plaintext = h(v["plaintext"])
    assert plaintext == bytes([v["content_type"]]) + h(v["payload"])
    aad = suite.sealed_len(len(plaintext)).to_bytes(4, "big")
    assert aad == h(v["aad"])
    sealed = sender.seal(aad, plaintext)
    assert sealed == h(v["ciphertext"]) + h(v["tag"])
    assert aad + sealed == h(v["record"])
    receiver = Direction(suite, secret)
    receiver.seq = v["seq"]
    assert receiver.open(aad, h(v["record"])[4:]) == plaintext


RECORDS = load("records.json")["vectors"] if VECTORS.is_dir() else []


@pytest.mark.parametrize("v", RECORDS, ids=lambda v: f"{v['suite']}-seq{v['seq']}")
def test_record(v: dict[str, Any]) -> None:
    check_record(v)


def test_records_cover_every_suite() -> None:
    assert {v["suite_code"] for v in RECORDS} == set(suites.BY_CODE)


@pytest.mark.parametrize(
    "v",
    load("key_update.json")["vectors"] if VECTORS.is_dir() else [],
    ids=lambda v: v["records"][0]["suite"],
)
def test_key_update(v: dict[str, Any]) -> None:
    recs = v["records"]
    suite = suites.BY_CODE[recs[0]["suite_code"]]
    for r in recs:
        check_record(r)
    # Our sender with the threshold lowered to one byte emits exactly this stream (§5.4 rules 2, 6).
    first = h(v["epochs"][0]["traffic_secret"])
    eager = dataclasses.replace(suite, key_update_after_bytes=1)
    sender = RecordLayer(eager, first, bytes(32))
    stream = b"".join(
        sender.seal(r["content_type"], h(r["payload"])) for r in recs if r["content_type"] != T_KEY_UPDATE
    )
    assert stream == h(v["stream"])
    # And a receiver opens it, switching keys at each KeyUpdate.
    receiver = RecordLayer(suite, bytes(32), first)
    data, pos, types = h(v["stream"]), 0, []
    while pos < len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        ctype, _ = receiver.open(data[pos : pos + 4], data[pos + 4 : pos + 4 + n])
        types.append(ctype)
        pos += 4 + n
    assert types == [r["content_type"] for r in recs]
    assert types[-1] == T_CLOSE


def test_handshake() -> None:
    hs = load("handshake.json")
    i, f, d = hs["inputs"], hs["frames"], hs["derived"]
    offer = KexPrivate(KEX_X25519, x25519.X25519PrivateKey.from_private_bytes(h(i["client_x25519_private"])))
    assert offer.share == h(d["client_x25519_public"])
    ch = client_hello(h(i["client_random"]), [offer], [suites.AES_256_GCM])
    assert len(ch).to_bytes(4, "big") + ch == h(f["client_hello"])
    sh = parse_server_hello(h(f["server_hello"])[4:], [KEX_X25519], [suites.AES_256_GCM])
    assert sh.unsigned == h(d["unsigned_server_hello"])
    assert sh.identity.blob == h(d["identity_blob"])
    assert sh.identity.fingerprint() == d["identity_fingerprint"]
    assert sh.signature == h(d["signature"])
    secrets = verify_server_hello(ch, sh, offer)
    assert secrets.th == h(d["transcript_hash"])
    assert (secrets.c2s, secrets.s2c, secrets.exporter) == (
        h(d["c2s_secret"]),
        h(d["s2c_secret"]),
        h(d["exporter"]),
    )
    layer = RecordLayer(suites.AES_256_GCM, secrets.c2s, secrets.s2c)
    c2s = [r for r in hs["records"] if r["direction"] == "c2s"]
    s2c = [r for r in hs["records"] if r["direction"] == "s2c"]
    cred = auth.Credential(i["username"], i["password"])
    ack = Writer().u16(messages.K_ACK).u32(i["ack_transfer"]).u64(i["ack_offset"]).getvalue()
    ours = [cred.client_auth(secrets.th), ack, b"\x00\x00"]
    for r, payload in zip(c2s, ours, strict=True):
        check_record(r)
        assert layer.seal(r["content_type"], payload) == h(r["record"])
    for r in s2c:
        check_record(r)
        rec = h(r["record"])
        assert layer.open(rec[:4], rec[4:]) == (r["content_type"], h(r["payload"]))
    assert auth.parse_auth_result(h(s2c[0]["payload"])) == h(i["client_id"])


# -- messages -----------------------------------------------------------------

MESSAGES = load("messages.json") if VECTORS.is_dir() else {"vectors": [], "invalid": [], "close": []}


def meta(j: dict[str, Any]) -> messages.FileMeta:
    return messages.FileMeta(j["size"], j["mode"], j["mtime"], j["mtime_nanos"])


def entry(j: dict[str, Any]) -> messages.FileEntry:
    return messages.FileEntry(j["name"], meta(j["meta"]), h(j["digest"]), j["stored"])


def encode(t: str, fl: dict[str, Any]) -> bytes | None:
    """Our encoding of a client-to-server message, or None for a kind the client never sends."""
    tr = fl["transfer"]
    if t == "Upload":
        return messages.upload(tr, fl["name"], meta(fl["meta"]), fl["resume"])
    if t == "Commit":
        return messages.commit(tr, fl["length"], h(fl["digest"]))
    if t == "Download":
        return messages.download(tr, fl["name"], fl["offset"])
    if t == "List":
        return messages.list_(tr, fl["prefix"])
    if t == "Stat":
        return messages.stat(tr, fl["name"])
    if t == "Delete":
        return messages.delete(tr, fl["name"])
    if t == "Rename":
        return messages.rename(tr, fl["from"], fl["to"])
    return None


def expected_reply(t: str, fl: dict[str, Any]) -> messages.Reply | None:
    """The decoded form of a server-to-client message, or None for a kind the client never gets."""
    if t == "Error":
        return messages.Error(fl["code"], fl["message"])
    if t == "Ack":
        return messages.Ack(fl["offset"])
    if t == "Commit":
        return messages.Commit(fl["length"], h(fl["digest"]))
    if t == "UploadReady":
        return messages.UploadReady(fl["offset"])
    if t == "Committed":
        return messages.Committed(entry(fl["entry"]))
    if t == "DownloadStart":
        return messages.DownloadStart(entry(fl["entry"]), fl["offset"])
    if t == "Listing":
        return messages.Listing(tuple(entry(e) for e in fl["entries"]), fl["more"])
    if t == "Done":
        return messages.Done()
    return None


@pytest.mark.parametrize("v", MESSAGES["vectors"], ids=lambda v: v["type"])
def test_message(v: dict[str, Any]) -> None:
    raw = h(v["hex"])
    assert int.from_bytes(raw[:2], "big") == v["kind"]
    ours = encode(v["type"], v["fields"])
    reply = expected_reply(v["type"], v["fields"])
    if ours is None and reply is None:
        # Peer-mode, relay and drop kinds: outside this client; it must still know them as kinds.
        assert messages.decode_reply(raw) == (v["fields"]["transfer"], None)
        return
    if ours is not None:
        assert ours == raw
    if reply is not None:
        assert messages.decode_reply(raw) == (v["fields"]["transfer"], reply)


def test_every_client_and_server_kind_has_a_vector() -> None:
    types = {v["type"] for v in MESSAGES["vectors"]}
    assert {"Upload", "Commit", "Download", "List", "Stat", "Delete", "Rename"} <= types
    assert {"Error", "Ack", "UploadReady", "Committed", "DownloadStart", "Listing", "Done"} <= types


SERVER_KINDS = {0x0100, 0x0101, 0x0102, 0x0201, 0x0202, 0x0204, 0x0206, 0x020A}
KNOWN_OTHER = {
    *(0x0200, 0x0203, 0x0205, 0x0207, 0x0208, 0x0209),
    *range(0x0300, 0x0304),
    *range(0x0400, 0x0404),
    *range(0x0500, 0x050D),
}


def decode_upload_body(body: bytes) -> None:
    r = Reader(body)
    r.string16(1024, 1)
    messages.FileMeta.decode(r)
    r.boolean()
    r.done()


@pytest.mark.parametrize("v", MESSAGES["invalid"], ids=lambda v: v["comment"])
def test_invalid(v: dict[str, Any]) -> None:
    raw = h(v["hex"])
    kind = int.from_bytes(raw[:2], "big")
    if kind in SERVER_KINDS or kind not in KNOWN_OTHER:
        with pytest.raises(DecodeError):
            messages.decode_reply(raw)
        return
    if kind in (0x0207, 0x0208) and len(raw) >= 8:
        # A name the client would have to send: our encoder refuses it before it leaves.
        name = raw[8:].decode("utf-8")
        assert name_problem(name) is not None
        return
    if kind == 0x0200:
        # Upload fields a client builds from a local file; the shared FileMeta decoder refuses them.
        with pytest.raises(DecodeError):
            decode_upload_body(raw[6:])
        return
    pytest.skip("a peer-mode, relay or drop kind, outside this client")


@pytest.mark.parametrize("v", MESSAGES["close"], ids=lambda v: v["comment"])
def test_close_payload(v: dict[str, Any]) -> None:
    assert v["fields"]["code"].to_bytes(2, "big") == h(v["hex"])
    layer = RecordLayer(suites.AES_256_GCM, bytes(32), bytes(32))
    peer = RecordLayer(suites.AES_256_GCM, bytes(32), bytes(32))
    frame = layer.seal(T_CLOSE, h(v["hex"]))
    assert peer.open(frame[:4], frame[4:]) == (T_CLOSE, h(v["hex"]))


# -- authentication (auth.json) -------------------------------------------------

AUTH = (
    load("auth.json")
    if (VECTORS / "auth.json").is_file()
    else {"vectors": [], "invalid": [], "key_proofs": []}
)


def proof_key(kp: dict[str, Any]) -> PrivateKey:
    key = serialization.load_ssh_private_key(kp["private_key_openssh"].encode("ascii"), None)
    assert isinstance(key, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey))
    return PrivateKey(key)


@pytest.mark.parametrize("kp", AUTH["key_proofs"], ids=lambda kp: kp["key_type"])
def test_key_proof(kp: dict[str, Any]) -> None:
    key = proof_key(kp)
    assert key.public.blob == h(kp["public_key_blob"])
    assert key.public.fingerprint() == kp["fingerprint"]
    assert key.public.scheme == kp["signature_scheme"]
    th, user = h(kp["transcript_hash"]), kp["username"]
    assert L_CLIENT_SIG + b"\x00" + th + bytes([len(user)]) + user.encode() == h(kp["signed_message"])
    assert key.sign(h(kp["signed_message"])) == h(kp["signature"])  # both schemes are deterministic
    client_auth = auth.Credential(user, key=key).client_auth(th)
    assert client_auth == h(kp["client_auth"])
    layer = RecordLayer(suites.AES_256_GCM, h(kp["c2s_secret"]), bytes(32))
    assert layer.seal(T_MESSAGE, client_auth) == h(kp["record"])


def _ed25519_proof() -> dict[str, Any]:
    return next(kp for kp in AUTH["key_proofs"] if kp["key_type"] == "ssh-ed25519")


@pytest.mark.parametrize(
    "v",
    AUTH["vectors"],
    ids=lambda v: v["type"] + "-" + v["fields"].get("method", v["fields"].get("result", "")),
)
def test_auth_message(v: dict[str, Any]) -> None:
    f, raw = v["fields"], h(v["hex"])
    if v["type"] == "ClientAuth":
        if f["method"] in ("anonymous", "pake"):
            pytest.skip(
                "anonymous and short-code logins are peer-mode and relay methods, outside this client"
            )
        key = None
        if f.get("key") is not None:
            kp = _ed25519_proof()
            assert f["key"]["public_key"] == kp["public_key_blob"]
            key = proof_key(kp)
            th = h(kp["transcript_hash"])
        else:
            th = bytes(32)
        invite = h(f["invite"]) if f.get("invite") is not None else None
        cred = auth.Credential(f["username"], f.get("password"), key, f["method"] == "register", invite)
        assert cred.client_auth(th) == raw
    elif v["type"] == "AuthResult":
        if f["result"] == "accepted":
            assert auth.parse_auth_result(raw) == h(f["client_id"])
        elif f["result"] == "rejected":
            with pytest.raises(sxfer_client.AuthRejected) as e:
                auth.parse_auth_result(raw)
            assert str(e.value).endswith(f["message"])
        else:  # a PAKE answer to a client that did not send a PAKE (§4.6.3)
            with pytest.raises(ProtocolViolation):
                auth.parse_auth_result(raw)
    else:
        with pytest.raises(sxfer_client.OffersRefused):
            parse_server_hello(raw, [KEX_X25519], [suites.AES_256_GCM])


@pytest.mark.parametrize("v", AUTH["invalid"], ids=lambda v: v["comment"])
def test_auth_invalid(v: dict[str, Any]) -> None:
    raw = h(v["hex"])
    if v["type"] == "ClientAuth":
        pytest.skip(
            "the client encodes ClientAuth and never decodes one (see test_client_auth_encoder_refuses)"
        )
    elif v["type"] == "AuthResult":
        with pytest.raises(DecodeError):
            auth.parse_auth_result(raw)
    else:
        with pytest.raises((DecodeError, ProtocolViolation)):
            parse_server_hello(raw, [KEX_X25519], [suites.AES_256_GCM])


def test_client_auth_encoder_refuses() -> None:
    """What the invalid ClientAuth vectors hold cannot be built here."""
    with pytest.raises(sxfer_client.SxferError):
        auth.Credential("Alice", "x")
    with pytest.raises(sxfer_client.SxferError):
        auth.Credential("alice", "")
    with pytest.raises(sxfer_client.SxferError):
        auth.Credential("alice", register=True)
    with pytest.raises(sxfer_client.SxferError):
        auth.Credential("alice", "x", register=True, invite=b"")


# -- key exchange (key_exchange.json) -------------------------------------------

KEX = load("key_exchange.json") if (VECTORS / "key_exchange.json").is_file() else None


@pytest.mark.skipif(KEX is None, reason="no key_exchange.json")
def test_hybrid_key_exchange() -> None:
    """Layout, the X25519 half and the key schedule of mlkem768x25519.

    pyca loads ML-KEM keys only from 64-byte seeds, not the 2 400-byte FIPS 203
    decapsulation key of the vector, so the decapsulation itself is checked
    against the real server (test_handshake); here the vector's ML-KEM secret stands in.
    """
    assert KEX is not None
    v = KEX["hybrid"]
    assert v["kex_code"] == KEX_MLKEM768X25519
    x = x25519.X25519PrivateKey.from_private_bytes(h(v["client_x25519_private"]))
    offer = KexPrivate(KEX_X25519, x)
    assert offer.share == h(v["client_x25519_public"])
    assert hybrid_client_share(h(v["client_mlkem768_encapsulation_key"]), offer.share) == h(v["client_share"])
    ciphertext, x_pub = split_hybrid_share(h(v["server_share"]))
    assert ciphertext == h(v["server_mlkem768_ciphertext"]) and x_pub == h(v["server_x25519_public"])
    x_secret = offer.complete(x_pub)
    assert x_secret == h(v["x25519_shared_secret"])
    ss = hybrid_secret(h(v["mlkem768_shared_secret"]), x_secret)
    assert ss == h(v["shared_secret"])
    secrets = key_schedule(ss, h(v["transcript_hash"]))
    assert (secrets.c2s, secrets.s2c, secrets.exporter) == (
        h(v["c2s_secret"]),
        h(v["s2c_secret"]),
        h(v["exporter"]),
    )
    assert hkdf_extract(b"SXFR/1 handshake", ss) == h(v["prk"])


@pytest.mark.parametrize("v", KEX["invalid_x25519_shares"] if KEX else [], ids=lambda v: v["comment"])
def test_low_order_x25519_shares_are_refused(v: dict[str, Any]) -> None:
    offer = KexPrivate(KEX_X25519, x25519.X25519PrivateKey.from_private_bytes(h(v["x25519_private"])))
    with pytest.raises(CryptoFailure):
        offer.complete(h(v["share"]))
