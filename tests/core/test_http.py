"""Body caps and Content-Encoding decoding, over an in-process app and directly."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import brotli
import pytest
import snappy
import zstandard
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse, Response

from core.errors import AppError, BadRequest, PayloadTooLarge
from core.http import decode_stream, read_body, snappy_block_decode
from tests.conftest import in_process

CAP = 1_000_000


def make_app(max_bytes: int = 100_000, max_decoded: int = CAP) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await read_body(request, max_bytes=max_bytes, max_decoded=max_decoded)
        return Response(body, media_type="application/octet-stream")

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    app.add_exception_handler(AppError, on_error)
    return app


PAYLOAD = b'{"message": "hello"}' * 500

ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
    "identity": lambda b: b,
}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_each_encoding_is_decoded(encoding: str) -> None:
    with in_process(make_app()) as client:
        r = client.post(
            "/echo", content=ENCODERS[encoding](PAYLOAD), headers={"Content-Encoding": encoding}
        )
    assert r.status_code == 200
    assert r.content == PAYLOAD


def test_raw_deflate_is_accepted_as_deflate() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = raw.compress(PAYLOAD) + raw.flush()
    with in_process(make_app()) as client:
        r = client.post("/echo", content=body, headers={"Content-Encoding": "deflate"})
    assert r.status_code == 200
    assert r.content == PAYLOAD


def test_stacked_encodings_are_undone_in_reverse_order() -> None:
    body = brotli.compress(gzip.compress(PAYLOAD))
    with in_process(make_app()) as client:
        r = client.post("/echo", content=body, headers={"Content-Encoding": "gzip, br"})
    assert r.status_code == 200
    assert r.content == PAYLOAD


def test_chunked_body_without_length() -> None:
    def chunks():  # type: ignore[no-untyped-def]
        data = gzip.compress(PAYLOAD)
        for i in range(0, len(data), 100):
            yield data[i : i + 100]

    with in_process(make_app()) as client:
        r = client.post("/echo", content=chunks(), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.content == PAYLOAD


@pytest.mark.parametrize(
    ("encoding", "body", "fragment"),
    [
        ("gzip", b"not gzip at all", "not valid gzip"),
        ("gzip", gzip.compress(PAYLOAD)[:-20], "truncated"),
        ("br", b"\xff\xff\xff garbage", "brotli"),
        ("br", brotli.compress(PAYLOAD)[:-5], "brotli"),
        ("zstd", b"nope nope", "zstd"),
        ("deflate", b"\x00\x01\x02garbage", "deflate"),
        ("compress", b"x", "unsupported Content-Encoding"),
    ],
)
def test_broken_bodies_get_400(encoding: str, body: bytes, fragment: str) -> None:
    with in_process(make_app()) as client:
        r = client.post("/echo", content=body, headers={"Content-Encoding": encoding})
        assert r.status_code == 400
        assert fragment in r.json()["detail"]
        ok = client.post("/echo", content=b"fine")  # the next good request is unaffected
        assert ok.status_code == 200 and ok.content == b"fine"


def test_oversized_body_gets_413() -> None:
    with in_process(make_app(max_bytes=1000)) as client:
        r = client.post("/echo", content=b"x" * 5000)
        assert r.status_code == 413

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"y" * 500

        r = client.post("/echo", content=chunks())  # no Content-Length: counted while read
        assert r.status_code == 413


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "deflate"])
def test_decompression_bomb_gets_413_without_inflating(encoding: str) -> None:
    bomb = ENCODERS[encoding](bytes(10 * 1024 * 1024))
    assert len(bomb) < 100_000
    app = make_app(max_bytes=200_000, max_decoded=1_000_000)
    with in_process(app) as client:
        tracemalloc.start()
        try:
            r = client.post("/echo", content=bomb, headers={"Content-Encoding": encoding})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert r.status_code == 413
    assert "decompressed" in r.json()["detail"]
    # Never the 10 MB payload: the cap (1 MB) plus one bounded decoder step.
    assert peak < 9 * 1024 * 1024, peak


async def _aiter(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=2000),
    st.sampled_from(["gzip", "deflate", "br", "zstd"]),
    st.integers(1, 64),
)
def test_decoding_round_trips_at_any_chunking(data: bytes, encoding: str, size: int) -> None:
    encoded = ENCODERS[encoding](data)
    parts = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    out = asyncio.run(decode_stream(_aiter(parts), [encoding], max_bytes=10**6, max_decoded=10**6))
    assert out == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["gzip", "deflate", "br", "zstd", "identity"]))
def test_garbage_raises_only_declared_errors(data: bytes, encoding: str) -> None:
    with contextlib.suppress(BadRequest, PayloadTooLarge):
        asyncio.run(decode_stream(_aiter([data]), [encoding], max_bytes=10**6, max_decoded=10**6))


def test_snappy_block_decode_and_cap() -> None:
    data = b"remote write " * 1000
    assert snappy_block_decode(snappy.compress(data), 10**6) == data
    with pytest.raises(PayloadTooLarge):
        snappy_block_decode(snappy.compress(data), 100)
    with pytest.raises(BadRequest):
        snappy_block_decode(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10**6)
    with pytest.raises(BadRequest):
        snappy_block_decode(b"\x10garbage", 10**6)


def test_bad_content_length_is_400() -> None:
    with in_process(make_app()) as client:
        r = client.post("/echo", content=b"abc", headers={"Content-Length": "zz"})
    assert r.status_code == 400
