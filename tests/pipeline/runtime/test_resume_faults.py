"""Resume after SIGKILL, poison documents and worker-count invariance (issue 7).

Also home of the fault-injection stages (``Poison``, ``Saboteur``) that the Ray tests
register in their workers through ``register_fault_stages`` (a Ray worker setup hook).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import psutil
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from webrefinery.pipeline.core import registry
from webrefinery.pipeline.core.config import build_config
from webrefinery.pipeline.io.manifest import verify
from webrefinery.pipeline.runtime.runner import run
from webrefinery.pipeline.core.stage import Stage, StageConfig, StageResult

from conftest import ROOT

ROOT = ROOT
SAMPLE = ROOT / "samples" / "CC-MAIN-2020-34-fragment.warc.gz"
#: the whole bundled sample crawl (the Common Crawl excerpt + the two real pages the default pipeline keeps)
SAMPLE_CRAWL = sorted((ROOT / "samples").glob("*.warc.gz"))
FAULT_STAGES = {"poison": "test_resume_faults:Poison", "saboteur": "test_resume_faults:Saboteur"}


# -- fault-injection stages ------------------------------------------------------------------
class PoisonError(RuntimeError):
    pass


class Poison(Stage):
    """Raises on every document whose URL contains ``url_contains``; passes the others."""

    name = "poison"

    class Config(StageConfig):
        url_contains: str = "poison"

    def process(self, table):
        urls = table.column("url").to_pylist()
        if any(u and self.config.url_contains in u for u in urls):
            raise PoisonError(f"document poisoned ({self.config.url_contains})")
        return StageResult(table)


class Saboteur(Stage):
    """SIGKILLs its own worker process at its ``after_batches``-th batch of a matching input.

    With ``marker`` set it does so once per run (the marker file records it); without, every
    time — a task its worker can never finish.
    """

    name = "saboteur"

    class Config(StageConfig):
        source_contains: str = ""
        after_batches: int = 1
        marker: str | None = None

    def __init__(self, config=None, context=None):
        super().__init__(config, context)
        self.seen = 0

    def process(self, table):
        if any(self.config.source_contains in (s or "") for s in table.column("source").to_pylist()):
            self.seen += 1
            if self.seen >= self.config.after_batches and self._arm():
                os.kill(os.getpid(), signal.SIGKILL)
        return StageResult(table)

    def _arm(self) -> bool:
        if self.config.marker is None:
            return True
        try:
            os.close(os.open(self.config.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            return False


def register_fault_stages() -> None:
    """Ray ``worker_process_setup_hook``: make the fault stages known to a worker's registry."""
    registry.STAGES.update(FAULT_STAGES)


# -- inputs and comparisons ------------------------------------------------------------------
def split_warc(src: Path | list[Path], out_dir: Path, n_files: int, copies: int = 1) -> list[Path]:
    """Split multi-member WARC.gz files (read one after the other) at gzip member (= record)
    boundaries into ``n_files`` files (``copies`` times over, under distinct names)."""
    data = b"".join(p.read_bytes() for p in ([src] if isinstance(src, Path) else src))
    bounds, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        end = len(data) - len(d.unused_data)
        bounds.append((pos, end))
        pos = end
    per = -(-len(bounds) // n_files)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in range(copies):
        for i in range(n_files):
            chunk = bounds[i * per:(i + 1) * per]
            p = out_dir / f"crawl-{c:02d}-{i:02d}.warc.gz"
            p.write_bytes(b"".join(data[a:b] for a, b in chunk))
            paths.append(p)
    return paths


def files_of(out: Path, sub: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / sub).glob("*.parquet"))}


def counts(stats: dict) -> dict:
    """stats.json without timings and run details: what must match across executors."""
    stages = [{k: v for k, v in s.items() if k != "time_s"} for s in stats["stages"]]
    return {"stages": stages, "output": stats["output"], "errors": stats["errors"]["count"]}


def assert_same_output(a: Path, b: Path) -> None:
    assert files_of(a, "data") and files_of(a, "data") == files_of(b, "data")
    assert files_of(a, "rejected") == files_of(b, "rejected")
    load = lambda p: json.loads((p / "stats.json").read_text())  # noqa: E731
    assert counts(load(a)) == counts(load(b))
    assert verify(a) == [] and verify(b) == []


@pytest.fixture(scope="module")
def warcs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("warcs")
    split_warc(SAMPLE_CRAWL, d, 3)
    return d


@pytest.fixture()
def fault_stages(monkeypatch):
    for k, v in FAULT_STAGES.items():
        monkeypatch.setitem(registry.STAGES, k, v)


def local_config(**executor):
    return build_config({"executor": {"kind": "local", "batch_size": 4, **executor}})


# -- tests -------------------------------------------------------------------------------------
def test_split_inputs_hold_every_record(warcs):
    whole = run(local_config(), [str(p) for p in SAMPLE_CRAWL], warcs.parent / "whole", quiet=True)
    split = run(local_config(), [str(warcs)], warcs.parent / "split", quiet=True)
    assert len(list(warcs.glob("*.warc.gz"))) == 3
    assert split["stages"][0]["docs_in"] == whole["stages"][0]["docs_in"] == 18
    assert split["output"]["docs"] == whole["output"]["docs"] == 2


def test_local_two_workers_byte_identical_to_one(warcs, tmp_path):
    run(local_config(workers=1), [str(warcs)], tmp_path / "w1", quiet=True)
    run(local_config(workers=2), [str(warcs)], tmp_path / "w2", quiet=True)
    assert_same_output(tmp_path / "w1", tmp_path / "w2")


def test_poison_document_is_rejected_with_exception_class(warcs, tmp_path, fault_stages):
    url = "0755krk.com"  # one page of the sample
    cfg = build_config({"pipeline": ["read", "urlfilter", "extract", "poison"],
                        "poison": {"url_contains": url}, "executor": {"batch_size": 4}})
    stats = run(cfg, [str(warcs)], tmp_path / "out", quiet=True)
    poison = stats["stages"][-1]
    assert poison["dropped"] == {"error:PoisonError": 1}
    assert poison["docs_out"] == poison["docs_in"] - 1 == 17
    assert stats["errors"]["count"] == 1 and stats["errors"]["samples"][0]["stage"] == "poison"
    rejected = pq.read_table(tmp_path / "out" / "rejected")
    row = rejected.filter(pc.equal(rejected.column("stage"), "poison"))
    assert row.num_rows == 1 and url in row.column("url")[0].as_py()
    assert row.column("reason").to_pylist() == ["error:PoisonError"]


def _refinery(inputs: Path, out: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "webrefinery.pipeline.cli", "run", "-i", str(inputs), "-o", str(out),
            "-c", str(config), "-q"]


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the run and everything it started (pool workers, a local Ray), like a lost machine."""
    tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    psutil.wait_procs([p for p in map(_proc, tree) if p], timeout=10)


def _proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def kill_and_resume(tmp_path: Path, executor: dict, timeout: float) -> tuple[Path, dict[str, int]]:
    """Run ``refinery run`` on 12 WARCs, SIGKILL it once the first task finished, rerun it.

    Returns the output and the mtimes of the task markers that existed at the kill.
    """
    inputs = tmp_path / "in"
    split_warc(SAMPLE_CRAWL, inputs, 3, copies=4)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"executor": {"batch_size": 2, **executor}}))
    out = tmp_path / "out"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(_refinery(inputs, out, config), env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    seg = out / "_work" / "seg0"
    while not list(seg.glob("stats-*.json")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no task finished in time"
        time.sleep(0.01)
    _kill_tree(proc)
    markers = {p.name: p.stat().st_mtime_ns for p in seg.glob("stats-*.json")}
    assert not (out / "_work" / "complete.json").exists(), "the run finished before it was killed"
    assert 0 < len(markers) < 12
    assert not list(out.glob("data/*.parquet")), "shards appeared before all tasks finished"
    for part in seg.glob("part-*.parquet"):  # completed parts are whole files, never half-written
        pq.read_metadata(part)
    proc = subprocess.run(_refinery(inputs, out, config), env=env, cwd=ROOT, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return out, markers


def reference(tmp_path: Path) -> Path:
    ref = tmp_path / "ref"
    run(local_config(batch_size=2), [str(tmp_path / "in")], ref, quiet=True)
    return ref


def assert_resumed(out: Path, ref: Path, markers: dict[str, int]) -> None:
    assert files_of(out, "data") == files_of(ref, "data")
    assert files_of(out, "rejected") == files_of(ref, "rejected")
    stats = json.loads((out / "stats.json").read_text())
    assert counts(stats) == counts(json.loads((ref / "stats.json").read_text()))
    seg = out / "_work" / "seg0"
    assert {n: (seg / n).stat().st_mtime_ns for n in markers} == markers, "finished tasks were redone"
    assert verify(out) == []


def test_kill_and_resume_local(tmp_path):
    out, markers = kill_and_resume(tmp_path, {"kind": "local", "workers": 2}, timeout=120)
    assert_resumed(out, reference(tmp_path), markers)


@pytest.mark.ray
def test_kill_and_resume_ray(tmp_path):
    out, markers = kill_and_resume(tmp_path, {"kind": "ray", "ray": {"actor_pool_size": 2}}, timeout=240)
    assert_resumed(out, reference(tmp_path), markers)
    assert json.loads((out / "stats.json").read_text())["run"]["executor"] == "ray"


def test_local_pool_worker_killed_is_retried(tmp_path, caplog):
    """SIGKILL one pool worker mid-run (as the OOM killer would): the pool restarts, the
    unfinished tasks are redone, and the output equals an undisturbed run."""
    import threading

    inputs = tmp_path / "in"
    split_warc(SAMPLE_CRAWL, inputs, 12, copies=6)
    out = tmp_path / "o"
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if list((out / "_work" / "seg0").glob("stats-*.json")):
                for child in psutil.Process().children(recursive=True):
                    if "spawn_main" in " ".join(child.cmdline()):
                        child.kill()
                        killed.append(child.pid)
                        return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_worker)
    watcher.start()
    cfg = build_config({"executor": {"kind": "local", "workers": 2, "batch_size": 2, "max_retries": 2},
                        "pipeline": ["read", "urlfilter", "extract", "langid"]})
    with caplog.at_level("WARNING", logger="refinery"):
        run(cfg, [str(inputs)], out, quiet=True)
    watcher.join()
    assert killed, "no pool worker was found to kill"
    assert "a worker process died" in caplog.text
    ref_cfg = build_config({"executor": {"kind": "local", "workers": 1, "batch_size": 2},
                            "pipeline": ["read", "urlfilter", "extract", "langid"]})
    run(ref_cfg, [str(inputs)], tmp_path / "ref", quiet=True)
    assert_same_output(out, tmp_path / "ref")


def test_resume_refuses_a_changed_task_plan(warcs, tmp_path):
    """Finished tasks are matched by index: a task that read another input range (a run started
    by a version that planned its tasks differently) stops the resume instead of losing or
    duplicating that range."""
    from webrefinery.pipeline.core.errors import ConfigError

    out = tmp_path / "o"
    config = build_config({"pipeline": ["read", "extract"], "executor": {"kind": "local"}})
    run(config, [str(warcs)], out, quiet=True)
    (stats_file,) = [p for p in out.rglob("seg0/stats-00001.json")]
    stats = json.loads(stats_file.read_text())
    stats["task"]["input"] = stats["task"]["input"] + " [bytes 0-4096)"
    stats_file.write_text(json.dumps(stats))
    next(out.rglob("complete.json")).unlink()
    with pytest.raises(ConfigError, match=r"finished task 1 of segment 0 read .* \(the task plan changed"):
        run(config, [str(warcs)], out, quiet=True)
