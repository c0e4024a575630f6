"""Run a plan: map segments split at global stages, the executor's reduces between them,
then final shards, stats.json, manifest.json, config.yaml and the dataset card.

Resume: every map task writes a stats file last (its completion marker) and every reduce a
``done`` file; re-running the same command skips finished work. A run directory remembers
the hash of the settings that shape its output, its stages and inputs, and refuses to mix a
different run into it; settings that only say how the work is spread (executor kind,
workers, Ray pool, retries) may change between a run and its resume.

The output (and everything under ``_work/``) may be a local directory or any fsspec URL
(:mod:`webrefinery.pipeline.io.storage`). ``executor.work_dir`` moves the work files (task
parts, keys, stats, reduce outputs) elsewhere, into a subdirectory of their own per run; the
output's markers stay in ``OUT/_work`` (:mod:`webrefinery.pipeline.core.paths`). A resume must
keep the work directory the run started with (refused otherwise, naming both); ``--overwrite``
deletes the recorded one with the output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from webrefinery.pipeline.core.config import PipelineConfig
from webrefinery.pipeline.core.errors import ConfigError
from webrefinery.pipeline.runtime.executors.base import Executor, make_executor
from webrefinery.pipeline.io.manifest import write_json_atomic, write_manifest
from webrefinery.pipeline.core.paths import OUTPUT_MARKERS, OUTPUT_WORK, TaskPaths, run_dir
from webrefinery.pipeline.runtime.lock import RunLock
from webrefinery.pipeline.runtime.plan import plan_segments, segment_tasks
from webrefinery.pipeline.io.readers import InputFile, resolve_inputs
from webrefinery.pipeline.core.registry import stage_class
from webrefinery.pipeline.io.shards import write_shards
from webrefinery.pipeline.io.storage import StoragePath
from webrefinery.pipeline.core.stage import RunContext
from webrefinery.pipeline.core.stats import MAX_ERROR_SAMPLES, merge_stages
from webrefinery.pipeline.runtime.task import load_task_stats

log = logging.getLogger("refinery")


@dataclass
class RunState:
    """One run as it goes: what it runs, and what its tasks and reduces have produced."""

    config: PipelineConfig
    stages: list[str]
    files: list[InputFile]
    context: RunContext
    command: str = ""
    #: ``write_card`` when the config asks for a card (:func:`card_writer`), else None
    write_card: Callable[[StoragePath], Any] | None = None
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    t_start: float = field(default_factory=time.perf_counter)
    #: stats of every map task, segment by segment
    results: list[dict[str, Any]] = field(default_factory=list)
    reduce_times: dict[str, float] = field(default_factory=dict)
    #: the last segment's parts: the rows that become the output shards
    parts: list[StoragePath] = field(default_factory=list)
    #: the key file name each of the last segment's tasks wrote (None: it keyed no rows)
    keys: list[str | None] = field(default_factory=list)


def card_writer(config: PipelineConfig) -> Callable[[StoragePath], Any] | None:
    """``write_card`` when ``output.card`` is on, imported at start-up (matplotlib, jinja2: about
    0.8 s) so that a broken install stops the run before any work, and not at all without a card."""
    if not config.output.card:
        return None
    from webrefinery.pipeline.card.render import write_card
    return write_card


def check_stages(config: PipelineConfig, stages: list[str], context: RunContext) -> None:
    """Start-up checks of every stage before any work starts: the files its config points at
    (``check``), then its backend on a tiny built-in input (``self_test``)."""
    for name in stages:
        stage = stage_class(name)(config.stage_config(name), context)
        stage.check()
        stage.self_test()


#: executor settings that decide how the work is spread, not what the output is (issue 16
#: item 10: a resume may change them). Not ``split_bytes``: it decides which byte range each
#: map task reads, so finished tasks of one split must not be mixed with another's, and it
#: names the files of ``rejected/`` (one per task); ``batch_size`` stays too (stages see batches).
SPREAD_SETTINGS = ("kind", "workers", "max_retries", "ray")


def output_hash(config: PipelineConfig) -> str:
    """sha256 of the resolved config without :data:`SPREAD_SETTINGS` and ``work_dir`` (where
    the work files go; checked on its own, see :func:`_guard_run_dir`): equal for two runs
    that write the same output."""
    resolved = config.resolved()
    resolved["executor"] = {k: v for k, v in resolved["executor"].items()
                            if k not in SPREAD_SETTINGS and k != "work_dir"}
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()


def _is_refinery_output(paths: TaskPaths) -> bool:
    """The directory holds what a refinery run writes (its work marker or its manifest)."""
    return any((paths.out_dir / m).is_file() for m in OUTPUT_MARKERS)


def _same_run(old: dict[str, Any], ident: dict[str, Any], config: PipelineConfig) -> str | None:
    """What differs between the run recorded in ``run.json`` and this one (None: nothing)."""
    if "output_hash" in old:
        same_config = old["output_hash"] == ident["output_hash"]
    else:  # run.json of a version before output_hash: the whole config had to match
        same_config = old.get("config_hash") == config.hash()
    if not same_config:
        return "config"
    if (old.get("stages"), old.get("inputs")) != (ident["stages"], ident["inputs"]):
        return "inputs or stages"
    return None


def _work_root(config: PipelineConfig, out_dir: StoragePath) -> StoragePath | None:
    """``executor.work_dir`` as a path (None: the work files stay in OUT/_work). Refused: a
    directory inside the output, and a plain local path when the Ray executor joins a
    cluster — its tasks on other nodes would write their parts to their own disks, where the
    reduce and the next segment (any node) cannot read them."""
    given = config.executor.work_dir
    if given is None:
        return None
    root = StoragePath.of(given)
    if root.is_within(out_dir):
        raise ConfigError(f"executor.work_dir {root} lies inside the output {out_dir}; leave it null for "
                          f"OUT/{OUTPUT_WORK}, or choose a directory outside the output")
    address = config.executor.ray.cluster_address() if config.executor.kind == "ray" else None
    if address and root.is_local and "://" not in given:
        raise ConfigError(f"executor.work_dir {given} is a local path, but the Ray executor joins the cluster at "
                          f"{address}: tasks on other nodes would write their parts to their own disks, where the "
                          "reduce cannot read them. Use an object-store URL (s3://…), leave work_dir null (the "
                          "work files go to OUT/_work), or, for a directory every node mounts (NFS, Lustre), "
                          f"write it as file://{root}")
    return root


def _recorded_run_dir(out_dir: StoragePath, old: dict[str, Any]) -> StoragePath:
    """The work directory a ``run.json`` names (one without ``work_dir``: OUT/_work)."""
    root = old.get("work_dir")
    return run_dir(out_dir, StoragePath.of(root) if root else None, old.get("run_id", ""))


def _guard_run_dir(paths: TaskPaths, config: PipelineConfig, inputs: list[InputFile], stages: list[str],
                   root: StoragePath | None, overwrite: bool) -> StoragePath:
    """Check (or, with ``overwrite``, clear) the output before a run; returns the run's work
    directory (under ``root``, the :func:`_work_root`): the recorded one on a resume, a new one
    on a fresh start."""
    out = paths.out_dir
    inside = [i.path for i in inputs if StoragePath.of(i.path).is_within(out)]
    if inside:
        raise ConfigError(f"input {inside[0]} lies inside the output directory {paths.out_dir}; move the input "
                          "or choose another --output (the output directory is written and may be deleted)")
    if paths.out_dir.is_file():
        raise ConfigError(f"output {paths.out_dir} is a file; --output must be a directory (new or a refinery run)")
    marker = paths.run_marker
    nonempty = bool(paths.out_dir.iterdir())
    if overwrite and nonempty:
        if not _is_refinery_output(paths):
            raise ConfigError(f"--overwrite: {paths.out_dir} is not a refinery output (no _work/run.json or "
                              "manifest.json), so it is not deleted; choose an empty or new --output")
        if marker.is_file():  # first the work directory it names: if that fails, the output still names it
            old_dir = _recorded_run_dir(out, json.loads(marker.read_text()))
            if not old_dir.is_within(out):
                old_dir.rmtree()
        paths.out_dir.rmtree()
        nonempty = False
    ident = {"output_hash": output_hash(config), "stages": stages, "inputs": [i.path for i in inputs]}
    if marker.exists():
        old = json.loads(marker.read_text())
        what = _same_run(old, ident, config)
        if what:
            raise ConfigError(f"output {paths.out_dir} holds a run with different {what}; "
                              "use --overwrite to start clean or choose another --output")
        given = str(root) if root else None
        if old.get("work_dir") != given and not paths.complete.exists():
            raise ConfigError(f"output {out} was started with executor.work_dir {old.get('work_dir') or 'null'}, "
                              f"where its finished tasks are; this run has {given or 'null'}. Resume with the "
                              "same executor.work_dir, or use --overwrite to start clean")
        return _recorded_run_dir(out, old)
    if nonempty:
        raise ConfigError(f"output {paths.out_dir} is not empty and not a refinery run; choose an empty or "
                          "new --output")
    ident |= {"work_dir": str(root) if root else None, "run_id": uuid.uuid4().hex[:12]}
    paths.markers.mkdir()
    write_json_atomic(marker, ident)
    return run_dir(out, root, ident["run_id"])


def run(config: PipelineConfig, inputs: list[str], output: str | Path, *, stages: list[str] | None = None,
        quiet: bool = False, overwrite: bool = False, command: str = "") -> dict[str, Any]:
    """Run ``stages`` (default: ``config.pipeline``) over ``inputs`` into ``output``; returns stats."""
    out_dir = StoragePath.of(output)
    context = RunContext(out_dir, out_dir / OUTPUT_WORK, quiet, tuple(config.languages))
    state = RunState(config, list(stages or config.pipeline), resolve_inputs(inputs), context, command)
    root = _work_root(config, out_dir)  # a work_dir that cannot work is refused before anything starts
    lock = RunLock(context.paths.markers)
    lock.refuse_if_held()  # at once, and before --overwrite may delete anything
    check_stages(config, state.stages, context)
    state.write_card = card_writer(config)
    work_dir = _guard_run_dir(context.paths, config, state.files, state.stages, root, overwrite)
    state.context = context = dataclasses.replace(context, work_dir=work_dir)
    if not work_dir.is_within(out_dir):
        log.info("work files of this run: %s", work_dir)
    with lock:
        if context.paths.complete.exists():
            log.info("%s is already complete; nothing to do (use --overwrite to run again)", out_dir)
            return json.loads((out_dir / "stats.json").read_text(encoding="utf-8"))
        executor = make_executor(config, context)
        try:
            _run_segments(state, executor)
        except BaseException:
            executor.close(abort=True)
            raise
        executor.close()
        return finish(state)


def _run_segments(state: RunState, executor: Executor) -> None:
    """Map every segment of the plan and hand each global stage's reduce to the executor."""
    config, paths = state.config, state.context.paths
    segments = plan_segments(state.stages)
    for s, (seg_stages, collect) in enumerate(segments):
        tasks = segment_tasks(s, segments, state.files, state.parts, state.keys, config.executor.split_bytes)
        done = {t.index: load_task_stats(paths.stats(s, t.index)) for t in tasks}
        for t in tasks:
            did = done[t.index] and done[t.index]["task"]["input"]
            if did and did != t.label:  # tasks are matched by index: the plan must be the one that ran
                raise ConfigError(f"output {paths.out_dir}: finished task {t.index} of segment {s} read {did}, but this "
                                  f"run plans it to read {t.label} (the task plan changed, e.g. another webrefinery "
                                  "version splits inputs differently); resume with the version that started the "
                                  "run, or use --overwrite to start clean")
        todo = [t for t in tasks if done[t.index] is None]
        if len(todo) < len(tasks):
            log.info("segment %d: %d of %d tasks already done (resuming)", s, len(tasks) - len(todo), len(tasks))
        for r in executor.run_tasks(todo, f"[{s + 1}/{len(segments)}] {'+'.join(seg_stages) or 'write'}"):
            done[r["task"]["index"]] = r
        seg_results = [done[t.index] for t in tasks]
        state.results.extend(seg_results)
        state.parts = [paths.part(s, t.index) for t in tasks]
        state.keys = [r["outputs"]["keys"] for r in seg_results]
        if collect:
            rdir = paths.reduce_dir(collect)
            if not (rdir / "done").exists():
                t0 = time.perf_counter()
                key_files = [paths.seg(s) / r["outputs"]["keys"] for r in seg_results if r["outputs"]["keys"]]
                rdir.mkdir()
                if not state.context.quiet:
                    print(f"reduce {collect}: {len(key_files)} key files", file=sys.stderr)
                executor.reduce(stage_class(collect)(config.stage_config(collect), state.context), key_files, rdir)
                state.reduce_times[collect] = time.perf_counter() - t0
                write_json_atomic(rdir / "done", {"time_s": round(state.reduce_times[collect], 3)})
            else:
                state.reduce_times[collect] = json.loads((rdir / "done").read_text())["time_s"]


def finish(state: RunState) -> dict[str, Any]:
    """Write the shards, stats.json, config.yaml, manifest.json and the card; mark the run complete."""
    config, stages, files, results = state.config, state.stages, state.files, state.results
    context, started, t_start, command = state.context, state.started, state.t_start, state.command
    out_dir = context.output_dir
    oc = config.output
    shards, summary = write_shards(state.parts, out_dir / "data", oc.rows_per_shard, oc.max_shard_bytes,
                                   oc.compression, oc.compression_level, context.quiet)
    rejected = (out_dir / "rejected").glob("*.parquet")
    merged = merge_stages(stages, [r["stages"] for r in results])
    by_name = {m.name: m for m in merged}
    for r in results:
        if r.get("collect"):
            by_name[r["collect"]["name"]].time_s += r["collect"]["time_s"]
    for name, t in state.reduce_times.items():
        by_name[name].time_s += t
    errors = [e for r in results for e in r["errors"]["samples"]]
    n_errors = sum(r["errors"]["count"] for r in results)
    output = summary.to_dict() | {"shards": len(shards), "bytes": sum(p.stat().st_size for p in shards),
                                  "rejected_docs": sum(r["outputs"]["rejected"] for r in results)}
    stats = {
        "version": 1,
        "stages": [m.to_dict() for m in merged],
        "input": {"files": [f.path for f in files], "bytes": sum(f.size for f in files)},
        "errors": {"count": n_errors, "samples": errors[:MAX_ERROR_SAMPLES]},
        "output": output,
        "run": {"started": started.isoformat(timespec="seconds"),
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "wall_s": round(time.perf_counter() - t_start, 3), "executor": config.executor.kind,
                "workers": config.executor.workers, "config_hash": config.hash(), "command": command,
                "stages": stages, "card": {"license": oc.card_license, "name": oc.card_name}},
    }
    write_json_atomic(out_dir / "stats.json", stats)
    (out_dir / "config.yaml").write_text(config.source_text or _dump_yaml(config))
    write_manifest(out_dir, shards, rejected, config.hash())
    if state.write_card:
        state.write_card(out_dir)
    write_json_atomic(context.paths.complete, {"finished": stats["run"]["finished"]})
    for p in [*context.work_dir.glob("seg*/part-*.parquet"), *context.work_dir.glob("seg*/keys-*.parquet")]:
        p.unlink(missing_ok=True)  # intermediate rows and keys; task stats and markers stay for the record
    return stats


def _dump_yaml(config: PipelineConfig) -> str:
    import yaml
    return "# defaults (no --config given), resolved\n" + yaml.safe_dump(config.resolved(), sort_keys=False,
                                                                           allow_unicode=True)


def summary_table(stats: dict[str, Any]) -> str:
    """The final table printed after a run: stage, docs in, docs out, % kept."""
    rows = [("stage", "docs in", "docs out", "% kept", "top drop reason")]
    for st in stats["stages"]:
        pct = f"{100 * st['docs_out'] / st['docs_in']:.1f}" if st["docs_in"] else "-"
        top = next(iter(st["dropped"].items()), None)
        rows.append((st["name"], str(st["docs_in"]), str(st["docs_out"]), pct, f"{top[0]} ({top[1]})" if top else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    o = stats["output"]
    lines.append(f"output: {o['docs']} docs, {o['chars']} chars in {o['shards']} shards; "
                 f"{o['rejected_docs']} rejected; {stats['errors']['count']} input errors; "
                 f"{stats['run']['wall_s']:.1f}s")
    return "\n".join(lines)
