"""Text definitions shared by stages, filters and dedup, each defined once.

- :mod:`.scripts`: Han / kana / hangul / CJK character classes;
- :mod:`.sentences`: sentence-end patterns;
- :mod:`.words`: the word pattern and word-list file parsing;
- :mod:`.mojibake`: the UTF-8-read-as-Latin-1/cp1252 telltale pair.
"""
