"""Model files loaded by stages: one loader per backend.

fastText's ``load_model`` trusts its file: a model cut short inside its dictionary makes it
read past the end without stopping (it waits for a word's closing NUL that never comes, its
memory growing), a cut further on yields a ``vector::_M_default_append`` or a model of
garbage. So :func:`fasttext_problem` walks the file's layout first, as fastText's
``FastText::loadModel`` reads it (``args.cc``, ``dictionary.cc``, ``densematrix.cc``,
``quantmatrix.cc``, ``productquantizer.cc`` of fastText 0.9), reading only the header and
the dictionary and checking that the matrices exactly fill the rest of the file.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

from webrefinery.pipeline.core.errors import ConfigError

#: ``FASTTEXT_FILEFORMAT_MAGIC_INT32`` and the format versions fastText 0.9 reads
FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSIONS = (11, 12)
#: ``ProductQuantizer::ksub_``: 2**nbits centroids per sub-quantizer, nbits = 8
_KSUB = 256
#: Args::load: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate t
_ARGS = struct.Struct("<12id")
#: Dictionary::load: size nwords nlabels ntokens pruneidx_size
_DICT = struct.Struct("<3iqq")
_ENTRY_TAIL = 9  # after a word's NUL: count (int64), type (int8)


class _Truncated(Exception):
    """The layout ends past the end of the file."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class _Reader:
    """Sequential little-endian reads over a memory map, raising :class:`_Truncated`."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: struct.Struct | str, where: str) -> tuple:
        s = fmt if isinstance(fmt, struct.Struct) else struct.Struct("<" + fmt)
        if self.pos + s.size > len(self.data):
            raise _Truncated(where)
        out = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return out

    def skip(self, n: int, where: str) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise _Truncated(where)
        self.pos += n

    def words(self, n: int) -> None:
        for _ in range(n):
            end = self.data.find(b"\0", self.pos)
            if end < 0:
                raise _Truncated("the dictionary")
            self.pos = end + 1
            self.skip(_ENTRY_TAIL, "the dictionary")


def _product_quantizer(r: _Reader, where: str) -> None:
    dim, _nsubq, _dsub, _lastdsub = r.take("4i", where)
    r.skip(dim * _KSUB * 4, where)


def _matrix(r: _Reader, quantized: bool, dim: int, where: str) -> int:
    """Skip one matrix; returns its row count."""
    if quantized:
        qnorm, m, n, codesize = r.take("?qqi", where)
        r.skip(codesize, where)
        _product_quantizer(r, where)
        if qnorm:
            r.skip(m, where)
            _product_quantizer(r, where)
    else:
        m, n = r.take("qq", where)
        if m < 0 or n < 0:
            raise ValueError(f"{where} has {m} × {n} cells")
        r.skip(m * n * 4, where)
    if n != dim:
        raise ValueError(f"{where} has {n} columns, the header says dim {dim}")
    return m


def _layout(r: _Reader) -> None:
    """Walk the file as ``FastText::loadModel`` does; raise on the first inconsistency."""
    dim, *_, loss, model, bucket, _minn, maxn, _lr_update, _t = r.take(_ARGS, "the header")
    if dim <= 0 or loss not in (1, 2, 3, 4) or model not in (1, 2, 3) or bucket < 0 or (maxn > 0 and bucket == 0):
        raise ValueError(f"its header is corrupt (dim {dim}, loss {loss}, model {model}, bucket {bucket})")
    size, nwords, nlabels, _ntokens, pruneidx_size = r.take(_DICT, "the dictionary")
    if size < 0 or nwords < 0 or nlabels < 0 or nwords + nlabels != size:
        raise ValueError(f"its dictionary header is corrupt ({size} entries, {nwords} words, {nlabels} labels)")
    r.words(size)
    r.skip(max(pruneidx_size, 0) * 8, "the dictionary")
    (quant_input,) = r.take("?", "the input matrix")
    _matrix(r, quant_input, dim, "the input matrix")
    (qout,) = r.take("?", "the output matrix")
    rows = _matrix(r, quant_input and qout, dim, "the output matrix")
    if model == 3 and rows != nlabels:
        raise ValueError(f"the output matrix has {rows} rows for {nlabels} labels")


def fasttext_problem(path: str | Path) -> str | None:
    """What makes ``path`` unloadable as a fastText model (``"is truncated …"``), or None."""
    try:
        with open(path, "rb") as f:
            size = Path(path).stat().st_size
            if size == 0:
                return "is empty (0 bytes)"
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                r = _Reader(data)
                try:
                    magic, version = r.take("ii", "the header")
                    if magic != FASTTEXT_MAGIC:
                        return f"is not a fastText model (it starts with {bytes(data[:8])!r}, not fastText's magic number)"
                    if version not in FASTTEXT_VERSIONS:
                        return (f"is a fastText file of format version {version}; this fastText reads versions "
                                f"{FASTTEXT_VERSIONS[0]}–{FASTTEXT_VERSIONS[-1]}")
                    _layout(r)
                except _Truncated as e:
                    return f"is truncated (its {size:,} bytes end inside {e.where})"
                except ValueError as e:
                    return f"is corrupt ({e})"
                if r.pos != size:
                    return f"is corrupt ({size:,} bytes where its header describes {r.pos:,})"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    return None


def check_fasttext(path: str | Path, key: str, fix: str) -> None:
    """Raise a :class:`ConfigError` naming ``key``, ``path``, what is wrong and ``fix``, unless
    ``path`` is a well-formed fastText model."""
    problem = fasttext_problem(path)
    if problem:
        raise ConfigError(f"{key}: {path} {problem}; {fix}")


def load_fasttext(path: str, key: str = "model", fix: str = "retrain or reinstall it") -> Any:
    """A fastText model, checked first by :func:`check_fasttext` (so a damaged file fails in
    milliseconds, not never), with fastText's ``load_model`` warning on stderr silenced."""
    import fasttext

    check_fasttext(path, key, fix)
    fasttext.FastText.eprint = lambda *a, **k: None  # silence the load_model warning
    try:
        return fasttext.load_model(path)
    except ValueError as e:  # fastText's own refusals ("Invalid model file", "… wrong file format!")
        raise ConfigError(f"{key}: {path} is not a fastText model ({str(e).strip().rstrip('!.')}); {fix}") from None
