"""Request bodies read with caps, decoded per Content-Encoding with a cap on what comes out.

Why streaming: a 10 MB gzip of zeros is ~10 KB on the wire. Decoding it whole before
checking the size would allocate the bomb; here every decoder is fed chunk by chunk with an
output limit, and the read stops with 413 as soon as the decoded size passes the cap.

Encodings: ``gzip``/``x-gzip``, ``deflate`` (zlib-wrapped or raw, both seen from clients),
``br``, ``zstd``, ``identity``; several comma-separated codings are undone in reverse order.
Snappy is not an HTTP content-coding but a framing some protocols put inside the body
(remote-write, Loki protobuf push): ``snappy_block_decode`` does it with the same cap.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request

from core.errors import BadRequest, PayloadTooLarge

DEFAULT_CHUNK = 64 * 1024


class _Decoder:
    """Incremental decoder: feed() compressed bytes, get decoded bytes, never past ``cap``."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0

    def _count(self, out: bytes) -> bytes:
        self.total += len(out)
        if self.total > self.cap:
            raise PayloadTooLarge(f"decompressed body is larger than {self.cap} bytes")
        return out

    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""


class _ZlibDecoder(_Decoder):
    def __init__(self, cap: int, wbits: int) -> None:
        super().__init__(cap)
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._first = True
        self._raw_fallback = wbits == zlib.MAX_WBITS  # "deflate" may be raw deflate

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        pending = data
        while pending:
            try:
                chunk = self._obj.decompress(pending, self.cap - self.total + 1)
            except zlib.error as exc:
                if self._first and self._raw_fallback:
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._raw_fallback = False
                    continue
                raise BadRequest(f"body is not valid {self._name()} data: {exc}") from None
            self._first = False
            out += self._count(chunk)
            pending = self._obj.unconsumed_tail
            if self._obj.eof:
                break
        return bytes(out)

    def finish(self) -> bytes:
        if not self._obj.eof:
            raise BadRequest(f"body is truncated {self._name()} data")
        return b""

    def _name(self) -> str:
        return "gzip" if self._wbits == 16 + zlib.MAX_WBITS else "deflate"


class _BrotliDecoder(_Decoder):
    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        import brotli

        self._brotli = brotli
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        try:
            chunk = self._obj.process(data, output_buffer_limit=DEFAULT_CHUNK)
            out += self._count(chunk)
            while not self._obj.can_accept_more_data():
                out += self._count(self._obj.process(b"", output_buffer_limit=DEFAULT_CHUNK))
        except self._brotli.error as exc:
            raise BadRequest(f"body is not valid brotli data: {exc}") from None
        return bytes(out)

    def finish(self) -> bytes:
        if not self._obj.is_finished():
            raise BadRequest("body is truncated brotli data")
        return b""


class _ZstdDecoder(_Decoder):
    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        import zstandard

        self._zstd = zstandard
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._done = False

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        try:
            # decompressobj has no output limit; an RLE block turns ~4 bytes into 128 KiB,
            # so feed 256-byte slices: one call can expand to at most ~8 MiB past the cap.
            for start in range(0, len(data), 256):
                out += self._count(self._obj.decompress(data[start : start + 256]))
        except self._zstd.ZstdError as exc:
            raise BadRequest(f"body is not valid zstd data: {exc}") from None
        return bytes(out)


class _Identity(_Decoder):
    def feed(self, data: bytes) -> bytes:
        return self._count(data)


def make_decoder(encoding: str, cap: int) -> _Decoder:
    name = encoding.strip().lower()
    factories: dict[str, Callable[[], _Decoder]] = {
        "gzip": lambda: _ZlibDecoder(cap, 16 + zlib.MAX_WBITS),
        "x-gzip": lambda: _ZlibDecoder(cap, 16 + zlib.MAX_WBITS),
        "deflate": lambda: _ZlibDecoder(cap, zlib.MAX_WBITS),
        "br": lambda: _BrotliDecoder(cap),
        "zstd": lambda: _ZstdDecoder(cap),
        "identity": lambda: _Identity(cap),
        "": lambda: _Identity(cap),
    }
    if name not in factories:
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}")
    return factories[name]()


async def decode_stream(
    chunks: AsyncIterator[bytes], encodings: list[str], *, max_bytes: int, max_decoded: int
) -> bytes:
    """Read ``chunks`` (at most ``max_bytes`` as sent) and undo ``encodings`` in order."""
    decoders = [make_decoder(e, max_decoded) for e in reversed(encodings)] or [
        _Identity(max_decoded)
    ]
    received = 0
    out = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
        data = chunk
        for decoder in decoders:
            data = decoder.feed(data)
        out += data
    for i, decoder in enumerate(decoders):
        tail = decoder.finish()
        for later in decoders[i + 1 :]:
            tail = later.feed(tail)
        out += tail
    return bytes(out)


async def read_body(request: Request, *, max_bytes: int, max_decoded: int) -> bytes:
    """The request body, decoded per Content-Encoding, or 400/413 (``core.errors``)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        if declared > max_bytes:
            raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
    header = request.headers.get("content-encoding", "")
    encodings = [e for e in (p.strip() for p in header.split(",")) if e]
    return await decode_stream(
        request.stream(), encodings, max_bytes=max_bytes, max_decoded=max_decoded
    )


def snappy_block_decode(data: bytes, cap: int) -> bytes:
    """Decode snappy *block* format, refusing before allocation if it claims > ``cap`` bytes."""
    import snappy

    declared, shift, pos = 0, 0, 0
    while True:
        if pos >= len(data) or pos > 9:
            raise BadRequest("body is not valid snappy data: bad length header")
        byte = data[pos]
        declared |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            break
        shift += 7
    if declared > cap:
        raise PayloadTooLarge(f"decompressed body is larger than {cap} bytes")
    try:
        out: bytes = snappy.uncompress(data)
    except Exception as exc:  # python-snappy raises its own UncompressError and others
        raise BadRequest(f"body is not valid snappy data: {exc}") from None
    return out
