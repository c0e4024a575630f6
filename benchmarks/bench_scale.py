"""Scale curve of the whole default pipeline on the Ray executor (issue 17 item 6).

Input, per N, built once into ``WORKDIR/in-N/`` (seeded, reused by later runs): JSONL files of
``--docs-per-file`` documents cut from real text — the reference texts of
``shared/testdata/extraction_en`` (181 news articles), ``extraction_multi`` (WCXB 290 pages of
seven kinds, Mozilla Readability 130 pages) and ``zh_articles`` (200 Chinese texts, half
Traditional). A document is 1–6-line runs of several source texts (so documents differ from
each other), 1–5k characters (log-normal length); 67 % English, 30 % Chinese, 3 % other
languages (the non-en/zh Readability pages: langid rejects them); 8 % exact copies and 7 % near
copies (boilerplate header/footer, a dropped first or last line, or 1 % of the words/characters
deleted) of an earlier document, under another URL.

Each N runs ``refinery run -c configs/default.yaml --executor ray --workers 2`` as a subprocess
(Ray started locally by the run, ``RAY_USAGE_STATS_ENABLED=0``, ``RAY_TMPDIR=WORKDIR/ray`` so
that Ray's session and spill files of this run alone are measured). While it runs, a thread
samples every ``--interval`` s:
- RSS (and RssAnon: private heap, without the object store's shared pages) of every process in the run's tree, classified as driver (the CLI process), map workers
  (Ray Data actors ``MapWorker(MapBatches(RunTasks))``), other Ray workers (reduce tasks, Ray
  Data's own actors, idle workers) and Ray's services (raylet, gcs_server, ...);
- bytes under ``OUT/_work``, under ``OUT`` in all, under ``RAY_TMPDIR`` (its ``*spill*``
  directories separately), and used in ``/dev/shm`` (Ray's object store) above the start;
- CPU seconds (user + system) of every process, for map-worker docs per CPU-second (a per-document
  cost that other jobs on the machine do not inflate, unlike wall time), and the load average.
Step times come from the run's stderr, time-stamped line by line as it arrives: start-up (to
the first segment's progress bar), segment 1 (map: read … pii + dedup keys), the dedup reduce
(``reduce dedup:`` to the second bar; the run's own figure is ``_work/reduce-dedup/done``),
segment 2 (apply the dedup decisions), Ray's shutdown, final shards + stats + manifest + card
(``write shards`` to the end); of the reduce, the part after its last Ray Data job is the
driver's alone (the dedup index). docs/s/core = input documents / (wall × 2 workers).

    python benchmarks/bench_scale.py --n 10000 100000 1000000 --json /tmp/scale/scale.json

The script takes ``--lock`` (default ``/tmp/bench.lock``, the lock ``flock(1)`` takes) around
each timed run only, so generating the input does not hold other benchmarks up.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import psutil

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
#: (file, text field) of the real reference texts the documents are cut from
SOURCES = [("extraction_en/ground_truth.jsonl", "article_body"), ("extraction_multi/wcxb/pages.jsonl", "content"),
           ("extraction_multi/readability/pages.jsonl", "content"), ("zh_articles/zh_articles.jsonl", "text")]
#: zh_articles has no URLs: the site each of its sources comes from
ZH_SITES = {"DRCD": "zh.wikipedia.org", "cmrc2018": "zh.wikipedia.org", "docs-cn": "docs.pingcap.com",
            "transcript": "sayit.pdis.nat.gov.tw", "zh-hant.react.dev": "zh-hant.react.dev"}
LANG_SHARE = {"en": 0.67, "zh": 0.30, "other": 0.03}
#: characters: median and clip range of the log-normal document length
LENGTH = {"en": (2500, 1000, 5000), "zh": (1800, 800, 4000), "other": (2500, 1000, 5000)}
EXACT_COPY, NEAR_COPY = 0.08, 0.07
BOILERPLATE = {"en": (["Home | News | Sport | Business | Contact", "Skip to main content"],
                      ["Share this article on Facebook Twitter Email", "Copyright 2024. All rights reserved."]),
               "zh": (["首页 | 新闻 | 体育 | 财经 | 联系我们", "跳转到主要内容"],
                      ["分享到微博 微信 QQ空间", "版权所有 © 2024 保留所有权利"])}
GEN_VERSION = 1
#: stderr line that opens each step of a run: (step, pattern, first or last line matching it)
STEP_MARKS = [("segment 1 (map)", re.compile(r"^\[1/2\]"), "first"),
              ("dedup reduce", re.compile(r"^reduce dedup:"), "first"),
              ("segment 2 (apply)", re.compile(r"^\[2/2\]"), "first"),
              ("ray shutdown", re.compile(r"^\[2/2\]"), "last"),
              ("shards + stats + card", re.compile(r"^write shards"), "first")]


# --------------------------------------------------------------------------- input

@dataclass
class Text:
    lines: list[str]
    site: str


def _site(rec: dict) -> str:
    if rec.get("url"):
        return re.sub(r"^https?://", "", rec["url"]).split("/")[0]
    src = rec.get("source") or ""
    return next((s for k, s in ZH_SITES.items() if k in src), "example.org")


def _lang(rec: dict, text: str) -> str:
    lang = (rec.get("lang") or "").lower()
    if lang.startswith("zh") or (not lang and "zh_articles" in str(rec.get("_file"))):
        return "zh"
    if not lang or lang.startswith("en") or lang.startswith("latin"):
        return "en"
    return "other"


def load_pools() -> dict[str, list[Text]]:
    """Real texts by language (en, zh, other), each as its non-empty lines."""
    pools: dict[str, list[Text]] = {k: [] for k in LANG_SHARE}
    for rel, key in SOURCES:
        with open(TESTDATA / rel, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line) | {"_file": rel}
                text = rec.get(key) or ""
                lines = [s.strip() for s in text.split("\n") if s.strip()]
                if lines:
                    pools[_lang(rec, text)].append(Text(lines, _site(rec)))
    return pools


class DocGen:
    """Documents from runs of lines of random real texts, plus exact and near copies."""

    def __init__(self, pools: dict[str, list[Text]], seed: int):
        self.pools, self.rng = pools, random.Random(seed)
        self.langs, self.weights = list(LANG_SHARE), list(LANG_SHARE.values())
        self.recent: list[tuple[str, str, str]] = []  # (lang, text, site) of earlier originals, bounded

    def original(self) -> tuple[str, str, str]:
        rng = self.rng
        lang = rng.choices(self.langs, self.weights)[0]
        median, lo, hi = LENGTH[lang]
        target = min(hi, max(lo, rng.lognormvariate(math.log(median), 0.45)))
        lines: list[str] = []
        size, site = 0, None
        while size < target:
            t = rng.choice(self.pools[lang])
            site = site or t.site
            start = rng.randrange(len(t.lines))
            for s in t.lines[start:start + rng.randint(1, 6)]:
                lines.append(s)
                size += len(s) + 1
        text = "\n".join(lines)[:int(hi * 1.2)]
        return lang, text, site

    def near(self, lang: str, text: str) -> str:
        rng, lines = self.rng, text.split("\n")
        kind = rng.randrange(3)
        if kind == 0:
            head, foot = BOILERPLATE.get(lang, BOILERPLATE["en"])
            return "\n".join([rng.choice(head), *lines, rng.choice(foot)])
        if kind == 1 and len(lines) >= 5:
            return "\n".join(lines[1:] if rng.random() < 0.5 else lines[:-1])
        if lang == "zh":
            return "".join(c for c in text if rng.random() >= 0.01)
        return " ".join(w for w in text.split(" ") if rng.random() >= 0.01)

    def docs(self, n: int) -> Iterator[tuple[str, str, str]]:
        """``n`` documents as (kind, text, site): kind original, exact or near."""
        rng = self.rng
        for _ in range(n):
            r = rng.random()
            if self.recent and r < EXACT_COPY + NEAR_COPY:
                lang, text, _ = rng.choice(self.recent)
                site = rng.choice(self.pools[lang]).site
                yield ("exact", text, site) if r < EXACT_COPY else ("near", self.near(lang, text), site)
                continue
            doc = self.original()
            if len(self.recent) < 5000:
                self.recent.append(doc)
            else:
                self.recent[rng.randrange(5000)] = doc
            yield "original", doc[1], doc[2]


def build_input(workdir: Path, n: int, per_file: int, seed: int) -> Path:
    """``WORKDIR/in-N/part-*.jsonl`` (reused when its ``done.json`` matches the settings)."""
    d = workdir / f"in-{n}"
    want = {"n": n, "docs_per_file": per_file, "seed": seed, "version": GEN_VERSION}
    marker = d / "done.json"
    if marker.exists() and {k: v for k, v in json.loads(marker.read_text()).items() if k in want} == want:
        return d
    shutil.rmtree(d, ignore_errors=True)
    (d / "jsonl").mkdir(parents=True)
    t0 = time.perf_counter()
    gen = DocGen(load_pools(), seed)
    counts = {"original": 0, "exact": 0, "near": 0}
    chars, fh = 0, None
    for i, (kind, text, site) in enumerate(gen.docs(n)):
        if i % per_file == 0:
            if fh:
                fh.close()
            fh = open(d / "jsonl" / f"part-{i // per_file:05d}.jsonl", "w", encoding="utf-8")
        counts[kind] += 1
        chars += len(text)
        fh.write(json.dumps({"id": f"doc-{i:08d}", "url": f"https://{site}/p/{i}", "text": text},
                            ensure_ascii=False) + "\n")
    fh.close()
    info = want | {"docs": counts, "mean_chars": round(chars / n), "bytes": dir_bytes(d / "jsonl"),
                   "gen_s": round(time.perf_counter() - t0, 1)}
    marker.write_text(json.dumps(info, indent=2))
    return d


# --------------------------------------------------------------------------- sampling

def dir_bytes(path: Path, match: str | None = None) -> int:
    """Bytes of the files under ``path`` (only under directories whose name contains ``match``)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        if match and match not in root:
            continue
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def shm_used() -> int:
    st = os.statvfs("/dev/shm")
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def rss_anon(pid: int) -> int:
    """Private (anonymous) resident bytes of ``pid``: RSS without file pages and without the
    shared-memory pages of Ray's object store that the process has touched."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("RssAnon:")), 0)
    except OSError:
        return 0


def role(pid: int, root: int, cmd: str) -> str:
    if pid == root:
        return "driver"
    if "MapWorker" in cmd or "RunTasks" in cmd:
        return "map worker"
    if cmd.startswith("ray::"):
        return "other ray worker"
    return "ray services"


@dataclass
class Sampler:
    """Peak RSS per process and peak disk use, sampled in a background thread."""

    root: int
    out: Path
    ray_tmp: Path
    interval: float
    rss: dict[int, dict] = field(default_factory=dict)
    disk: dict[str, int] = field(default_factory=lambda: {"work": 0, "out": 0, "ray_tmp": 0, "ray_spill": 0, "shm": 0})
    shm0: int = field(default_factory=shm_used)
    stop: threading.Event = field(default_factory=threading.Event)
    #: 1-minute load average at every sample (other jobs on the machine slow the run down)
    load: list[float] = field(default_factory=list)
    #: (seconds since start, driver RSS MB, its RssAnon MB) at every sample: the step of the driver's peak
    driver_series: list[tuple[float, int, int]] = field(default_factory=list)
    t0: float = field(default_factory=time.perf_counter)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                rss, cmd, cpu = p.memory_info().rss, " ".join(p.cmdline())[:160], p.cpu_times()
                anon = rss_anon(p.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rec = self.rss.setdefault(p.pid, {"peak": 0, "cmd": cmd, "role": role(p.pid, self.root, cmd)})
            if cmd and cmd != rec["cmd"] and rec["role"] != "map worker":  # a Ray worker sets its title late
                rec.update(cmd=cmd, role=role(p.pid, self.root, cmd))
            rec["peak"], rec["last"] = max(rec["peak"], rss), rss
            rec["peak_anon"] = max(rec.get("peak_anon", 0), anon)
            rec["cpu_s"] = cpu.user + cpu.system  # the last sample: CPU seconds up to ~interval before exit
        now = {"work": dir_bytes(self.out / "_work"), "out": dir_bytes(self.out), "ray_tmp": dir_bytes(self.ray_tmp),
               "ray_spill": dir_bytes(self.ray_tmp, "spill"), "shm": max(0, shm_used() - self.shm0)}
        for k, v in now.items():
            self.disk[k] = max(self.disk[k], v)
        self.load.append(os.getloadavg()[0])
        if self.root in self.rss:
            d = self.rss[self.root]
            self.driver_series.append((round(time.perf_counter() - self.t0, 1), round(d["last"] / 2**20),
                                       round(rss_anon(self.root) / 2**20)))

    def loop(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)


def stderr_lines(stream, t0: float, sink: list[tuple[float, str]]) -> None:
    """Time-stamped lines of the run's stderr (tqdm's ``\\r`` updates count as lines)."""
    buf = b""
    while chunk := os.read(stream.fileno(), 65536):
        buf += chunk
        *lines, buf = re.split(rb"[\r\n]", buf)
        now = time.perf_counter() - t0
        sink.extend((now, ln.decode("utf-8", "replace")) for ln in lines if ln.strip())
    if buf.strip():
        sink.append((time.perf_counter() - t0, buf.decode("utf-8", "replace")))


def step_times(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Seconds of each step, from the stderr line that opens it to the next step's (``ray
    shutdown``: from segment 2's last progress line to the shard writer's first)."""
    marks = [("start-up", 0.0)]
    for name, pat, which in STEP_MARKS:
        hits = [t for t, ln in lines if pat.search(ln.strip())]
        if hits:
            marks.append((name, hits[0] if which == "first" else hits[-1]))
    ends = [t for _, t in marks[1:]] + [wall]
    return {name: round(end - t, 2) for (name, t), end in zip(marks, ends)}


def reduce_driver_tail(lines: list[tuple[float, str]]) -> float | None:
    """Seconds of the dedup reduce after its last Ray Data job: the driver alone writes the
    run's dedup index (``dedup: {...}`` is logged when it is done; the decisions are written by
    the reduce's tasks since commit 9fd402c)."""
    end = next((t for t, ln in lines if "INFO: dedup: {" in ln), None)
    jobs = [t for t, ln in lines if "execution finished" in ln and end is not None and t <= end]
    return round(end - jobs[-1], 2) if jobs else None


# --------------------------------------------------------------------------- run

@contextmanager
def locked(path: str | None):
    if not path:
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_one(inp: Path, workdir: Path, n: int, args: argparse.Namespace) -> dict:
    out, ray_tmp = workdir / f"out-{n}", workdir / "ray"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    ray_tmp.mkdir(parents=True)
    cmd = [sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-c", str(ROOT / "configs/default.yaml"),
           "--executor", "ray", "--workers", str(args.workers), "-i", str(inp / "jsonl"), "-o", str(out)]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(ray_tmp)}
    lines: list[tuple[float, str]] = []
    with locked(args.lock):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        reader = threading.Thread(target=stderr_lines, args=(proc.stderr, t0, lines), daemon=True)
        reader.start()
        sampler = Sampler(proc.pid, out, ray_tmp, args.interval)
        thread = threading.Thread(target=sampler.loop, daemon=True)
        thread.start()
        rc = proc.wait()
        wall = time.perf_counter() - t0
        sampler.stop.set()
        thread.join()
        reader.join()
    (workdir / f"stderr-{n}.log").write_text("\n".join(f"{t:9.2f} {ln}" for t, ln in lines))
    if rc:
        sys.exit(f"refinery failed (N={n}, rc {rc}); last lines:\n" + "\n".join(ln for _, ln in lines[-30:]))
    stats = json.loads((out / "stats.json").read_text())
    docs = stats["stages"][0]["docs_in"]
    by_role: dict[str, list[float]] = {}
    anon_role: dict[str, list[float]] = {}
    cpu_role: dict[str, float] = {}
    services: dict[str, float] = {}
    for rec in sampler.rss.values():
        by_role.setdefault(rec["role"], []).append(round(rec["peak"] / 2**20))
        anon_role.setdefault(rec["role"], []).append(round(rec.get("peak_anon", 0) / 2**20))
        cpu_role[rec["role"]] = cpu_role.get(rec["role"], 0) + rec.get("cpu_s", 0)
        if rec["role"] == "ray services":
            name = Path(rec["cmd"].split(" ")[0]).name or "?"
            services[name] = max(services.get(name, 0), round(rec["peak"] / 2**20))
    reduce_done = out / "_work" / "reduce-dedup" / "done"
    return {
        "n": n, "docs_in": docs, "docs_out": stats["output"]["docs"], "wall_s": round(wall, 2),
        "cores": args.workers, "docs_per_s_per_core": round(docs / wall / args.workers, 1),
        "in_task_docs_per_s_per_core": round(docs / sum(s["time_s"] for s in stats["stages"]), 1),
        "tasks_per_segment": len(list((out / "_work" / "seg0").glob("stats-*.json"))),
        "steps_s": step_times(lines, wall),
        "cpu_s": {k: round(v, 1) for k, v in cpu_role.items()},
        "map_worker_docs_per_cpu_s": round(docs / cpu_role["map worker"], 1) if cpu_role.get("map worker") else None,
        "load_avg_mean": round(sum(sampler.load) / max(1, len(sampler.load)), 2),
        "reduce_driver_tail_s": reduce_driver_tail(lines),
        "reduce_s_run": json.loads(reduce_done.read_text())["time_s"] if reduce_done.exists() else None,
        "stage_s": {s["name"]: s["time_s"] for s in stats["stages"]},
        "dropped": {s["name"]: s["docs_in"] - s["docs_out"] for s in stats["stages"]},
        # in the order the processes were first seen: segment 1's map actors before segment 2's
        "rss_mb": by_role, "ray_services_rss_mb": services, "anon_mb": anon_role,
        "driver_rss_series": sampler.driver_series,
        "peak_disk_mb": {k: round(v / 2**20, 1) for k, v in sampler.disk.items()},
        "final_out_mb": round(dir_bytes(out) / 2**20, 1), "final_data_mb": round(dir_bytes(out / "data") / 2**20, 1),
        "input_mb": round(dir_bytes(inp / "jsonl") / 2**20, 1),
    }


def print_table(rows: list[dict]) -> None:
    def mb(v: list[float] | None) -> str:
        return "/".join(f"{x:.0f}" for x in v) if v else "-"

    steps = list(dict.fromkeys(k for r in rows for k in r["steps_s"]))
    head = ["N", "docs out", "tasks", "wall s", "load", "d/s/core", "in-task d/s/c", "map d/CPU-s", "driver MB", "map workers MB",
            "max other ray MB", "peak _work MB", "peak spill MB", "peak shm MB", "out MB", *[f"{s} s" for s in steps]]
    table = [head]
    for r in rows:
        rss, d = r["rss_mb"], r["peak_disk_mb"]
        table.append([f"{r['n']:,}", f"{r['docs_out']:,}", str(r["tasks_per_segment"]), f"{r['wall_s']:.1f}",
                      f"{r['load_avg_mean']:.1f}", f"{r['docs_per_s_per_core']:.1f}",
                      f"{r['in_task_docs_per_s_per_core']:.1f}", f"{r['map_worker_docs_per_cpu_s'] or 0:.1f}",
                      mb(rss.get("driver")), mb(rss.get("map worker")), mb([max(rss["other ray worker"])] if rss.get("other ray worker") else None),
                      f"{d['work']:.0f}", f"{d['ray_spill']:.0f}", f"{d['shm']:.0f}", f"{r['final_out_mb']:.0f}",
                      *[f"{r['steps_s'].get(s, float('nan')):.1f}" for s in steps]])
    print("| " + " | ".join(table[0]) + " |")
    print("|" + "---|" * len(head))
    for row in table[1:]:
        print("| " + " | ".join(row) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", nargs="+", type=int, default=[10_000, 100_000, 1_000_000], help="documents per run")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/scale"), help="inputs (kept), outputs, Ray temp")
    ap.add_argument("--docs-per-file", type=int, default=5000, help="documents per input JSONL file (= map task)")
    ap.add_argument("--workers", type=int, default=2, help="Ray actors (cores used)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between RSS/disk samples")
    ap.add_argument("--lock", default="/tmp/bench.lock", help="flock held around each timed run ('' = none)")
    ap.add_argument("--keep", action="store_true", help="keep each run's output directory")
    ap.add_argument("--json", type=Path, help="write all figures here (rewritten after each N)")
    args = ap.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.n:
        inp = build_input(args.workdir, n, args.docs_per_file, args.seed)
        info = json.loads((inp / "done.json").read_text())
        print(f"N={n:,}: {info['bytes'] / 2**20:.0f} MiB JSONL, mean {info['mean_chars']} chars, {info['docs']}",
              file=sys.stderr)
        row = run_one(inp, args.workdir, n, args) | {"input": info}
        rows.append(row)
        print(f"N={n:,}: wall {row['wall_s']} s, steps {row['steps_s']}", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps({"machine": {"cores": psutil.cpu_count(),
                                                         "mem_gib": round(psutil.virtual_memory().total / 2**30)},
                                             "rows": rows}, indent=2))
        if not args.keep:
            shutil.rmtree(args.workdir / f"out-{n}", ignore_errors=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
