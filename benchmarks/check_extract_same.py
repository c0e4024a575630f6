"""Old vs new ``extract`` stage: the same (text, title) on every visible page, and the speed of each.

The old stage is ``pipeline/stages/extract.py`` at a git revision (``--rev``, default HEAD), the
new one the working tree. Pages: every page ``bench_extraction_multi`` loads (wcxb, readability,
zh, zyte, warc-zh), decoded as the ``read`` stage does. Identity is checked for each ``--config``
(default: the default config, the full-cascade fallback, ``fast: false``, ``include_comments``);
a differing page is listed. Speed (default config): pages / CPU second of ``extract_one``, old and
new alternating page by page (the order flips every page) so load drifts hit both alike; median
of ``--repeat`` passes after a warm-up pass.

    flock /tmp/bench.lock python benchmarks/check_extract_same.py --rev HEAD
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_extraction_multi import load_pages  # noqa: E402
from webrefinery.pipeline.io.charset import decode_html  # noqa: E402
from webrefinery.pipeline.stages import extract as new  # noqa: E402

CONFIGS = ["{}", '{"fallback": "full", "fallback_below_coverage": 0.1}', '{"fast": false}',
           '{"include_comments": true}']


def old_module(rev: str) -> ModuleType:
    """``pipeline/stages/extract.py`` as it was at ``rev``, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:pipeline/stages/extract.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("extract_at_rev", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the config's annotations through it
    exec(compile(source, f"{rev}:pipeline/stages/extract.py", "exec"), module.__dict__)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--config", action="append", help="extract config as JSON (repeatable)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    old = old_module(args.rev)
    pages = [(p.set, p.id, p.url, decode_html(p.payload, p.header_charset)[0]) for p in load_pages()]

    differing = 0
    for cfg in args.config or CONFIGS:
        a = old.Extract(old.ExtractConfig(**json.loads(cfg)))
        b = new.Extract(new.ExtractConfig(**json.loads(cfg)))
        diff = [f"{s}/{i}" for s, i, url, html in pages if a.extract_one(html, url) != b.extract_one(html, url)]
        differing += len(diff)
        print(f"config {cfg}: {len(pages)} pages compared, {len(diff)} differ {diff[:10]}", flush=True)

    stages = {"old": old.Extract(old.ExtractConfig()), "new": new.Extract(new.ExtractConfig())}
    cpu: dict[str, list[float]] = {k: [] for k in stages}
    for rep in range(args.repeat + 1):
        spent = dict.fromkeys(stages, 0.0)
        for n, (_, _, url, html) in enumerate(pages):
            for name in (("old", "new") if n % 2 else ("new", "old")):
                t0 = time.process_time()
                stages[name].extract_one(html, url)
                spent[name] += time.process_time() - t0
        if rep:  # pass 0 warms caches and lazy imports
            for name in stages:
                cpu[name].append(spent[name])
    rate = {k: len(pages) / statistics.median(v) for k, v in cpu.items()}
    for name in stages:
        print(f"{name}: CPU s per pass {[round(x, 2) for x in cpu[name]]}, median {len(pages) / rate[name]:.2f} s "
              f"= {rate[name]:.1f} docs per CPU-second")
    print(f"new / old: {rate['new'] / rate['old']:.3f}")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
