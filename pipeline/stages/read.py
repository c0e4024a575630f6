"""The ``read`` stage: raw WARC responses → rows with decoded ``html``.

Keeps HTTP 200 HTML responses (configurable) and decodes the payload with
:func:`webrefinery.pipeline.io.charset.decode_html`. Non-HTML, non-200, empty, oversized and binary
payloads are rejected with a reason. Rows from JSONL/Parquet inputs (no ``payload``
column) pass through, except those the reader marked (``bad_type:…``, ``duplicate_id``)
and those with neither text nor html (``empty``).
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from pydantic import Field

from webrefinery.pipeline.core.card import StageCard
from webrefinery.pipeline.io.charset import binary_fraction, decode_html
from webrefinery.pipeline.io.readers import READ_REJECT
from webrefinery.pipeline.io.warc import MAX_PAYLOAD_BYTES
from webrefinery.pipeline.core.schema import conform, dump_metadata, set_column
from webrefinery.pipeline.core.stage import Stage, StageConfig, StageResult

_RAW_ONLY = ["http_status", "content_type", "charset", "warc_record_id", "offset", "payload"]


class ReadConfig(StageConfig):
    status_codes: list[int] = [200]
    content_types: list[str] = ["text/html", "application/xhtml+xml"]
    #: pages above this many bytes are skipped (a 50 MB page is never an article)
    max_html_bytes: int = Field(5_000_000, ge=1024, le=MAX_PAYLOAD_BYTES)
    #: share of control bytes in the first 4 KiB above which a payload is binary
    max_binary_fraction: float = Field(0.01, ge=0, le=1)


class Read(Stage):
    name = "read"
    Config = ReadConfig
    requires = ()
    backend = "charset-normalizer"
    probe = {"payload": ["<html><head><meta charset=gbk></head><body>新闻</body></html>".encode("gbk")],
             "http_status": [200], "content_type": ["text/html"], "charset": [None],
             "warc_record_id": ["<urn:uuid:probe>"], "offset": [0]}
    card = StageCard(notes={"sources": "Documents read: {docs_out:,}; published: {published:,}."})

    def process(self, table: pa.Table) -> StageResult:
        if "payload" not in table.column_names:
            return self._documents(table)
        cfg = self.config
        counters: Counter = Counter()
        reasons, html, meta = [], [], []
        statuses = table.column("http_status").to_pylist()
        ctypes = table.column("content_type").to_pylist()
        charsets = table.column("charset").to_pylist()
        for i, payload in enumerate(table.column("payload").to_pylist()):
            status, ctype = statuses[i], ctypes[i]
            reason, text, codec, how = None, None, None, None
            if status not in cfg.status_codes:
                reason = f"http_status:{status}"
            elif ctype not in cfg.content_types:
                reason = f"content_type:{ctype}"
            elif not payload or not payload.strip():
                reason = "empty"
            elif len(payload) > cfg.max_html_bytes:
                reason = "too_large"
            elif binary_fraction(payload) > cfg.max_binary_fraction:
                reason = "binary"
            else:
                text, codec, how = decode_html(payload, charsets[i])
                counters[f"charset:{codec}"] += 1
                counters[f"charset_source:{how}"] += 1
            reasons.append(reason)
            html.append(text)
            meta.append({"warc_record_id": table.column("warc_record_id")[i].as_py(),
                         "warc_offset": table.column("offset")[i].as_py(),
                         "content_type": ctype, "charset": codec, "http_status": status})
        out = set_column(table, "html", pa.array(html, pa.string()))
        out = set_column(out, "metadata", dump_metadata(meta))
        out = conform(out.drop_columns(_RAW_ONLY))
        return self.split(out, reasons, counters)

    def _documents(self, table: pa.Table) -> StageResult:
        """JSONL/Parquet rows: the reader's verdict, then ``empty`` for rows without text or html."""
        reasons = table.column(READ_REJECT).to_pylist() if READ_REJECT in table.column_names else None
        if reasons is not None:
            table = table.drop_columns([READ_REJECT])
        if "text" not in table.column_names:  # no row has text: left to the stages that need it
            return self.split(table, reasons) if reasons else StageResult(table)
        texts = table.column("text").to_pylist()
        htmls = table.column("html").to_pylist() if "html" in table.column_names else [None] * table.num_rows
        reasons = reasons or [None] * table.num_rows
        for i, (text, html) in enumerate(zip(texts, htmls)):
            if reasons[i] is None and not (text and text.strip()) and not (html and html.strip()):
                reasons[i] = "empty"
        return self.split(table, reasons) if any(reasons) else StageResult(table)
