"""Each record suite seals to the length of §6.1, opens what it sealed, and refuses a flipped bit."""

from __future__ import annotations

import os

import pytest

from sxfer_client import suites
from sxfer_client.errors import CryptoFailure
from sxfer_client.record import T_DATA, RecordLayer

LENGTHS = [1, 15, 16, 17, 31, 32, 33, 1000, 1 + (1 << 20)]


@pytest.mark.parametrize("suite", suites.ALL, ids=lambda s: s.name)
@pytest.mark.parametrize("n", LENGTHS)
def test_seal_open(suite: suites.Suite, n: int) -> None:
    key = os.urandom(suite.key_len)
    s = suite.sealer(key)
    nonce, aad, pt = os.urandom(12), os.urandom(4), os.urandom(n)
    sealed = s.seal(nonce, aad, pt)
    assert len(sealed) == suite.sealed_len(n)
    assert s.open(nonce, aad, sealed) == pt
    flipped = bytearray(sealed)
    flipped[n // 2] ^= 0x01
    with pytest.raises(CryptoFailure):
        s.open(nonce, aad, bytes(flipped))
    with pytest.raises(CryptoFailure):
        s.open(nonce, bytes(4), sealed) if aad != bytes(4) else s.open(bytes(12), aad, sealed)


def test_cbc_padding_is_a_full_block_on_a_boundary() -> None:
    assert suites.AES_256_CBC_HMAC_SHA256.sealed_len(16) == 32 + 32
    assert suites.AES_256_CBC_HMAC_SHA256.sealed_len(15) == 16 + 32


@pytest.mark.parametrize("suite", suites.ALL, ids=lambda s: s.name)
def test_record_layers_talk_and_update_keys(suite: suites.Suite) -> None:
    a, b = os.urandom(32), os.urandom(32)
    client = RecordLayer(suite, a, b)
    server = RecordLayer(suite, b, a)
    for i in range(3):
        frame = client.seal(T_DATA, bytes([i]) * 100)
        assert server.open(frame[:4], frame[4:]) == (T_DATA, bytes([i]) * 100)
    # A replayed record (wrong implicit sequence number) does not open.
    frame = client.seal(T_DATA, b"x")
    with pytest.raises(CryptoFailure):
        server.open(frame[:4], client.seal(T_DATA, b"x")[4:])
