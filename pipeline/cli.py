"""``refinery`` command line: ``run``, one command per stage, and the extra commands.

Every user mistake (bad YAML, unknown key, missing model or input, full disk) ends with one
line ``refinery: error: …`` naming the file or key and what to do, and exit status 2. A
systemic failure (a stage whose backend is broken, or the circuit breaker) exits with 3.
Exit codes: 0 finished, 1 unexpected crash (traceback), 2 user error, 3 systemic failure,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM) (README, "Troubleshooting / exit codes").
"""

from __future__ import annotations

import argparse
import errno
import logging
import shlex
import signal
import sys
import threading

from tqdm.contrib.logging import logging_redirect_tqdm

from webrefinery.pipeline import __version__
from webrefinery.pipeline.core.errors import RefineryError, StageFailure, storage_problem
from webrefinery.pipeline.core.exit import skip_final_gc
from webrefinery.pipeline.core.logs import setup_logging
from webrefinery.pipeline.core.config import DEFAULT_PIPELINE
from webrefinery.pipeline.core.registry import COMMANDS, STAGES, available, load_object

log = logging.getLogger("refinery")

#: exit status of a run stopped by a broken stage or environment
EXIT_SYSTEMIC = 3


#: stage command → (flag, key of its config section, help): the one setting a stage command is
#: mostly run for, given on the command line instead of in a config file
STAGE_OPTIONS = {
    "dedup": ("--against", "against", "earlier webrefinery outputs (local or fsspec URLs): also remove "
                                      "documents that duplicate one of theirs (dedup.against)"),
    "decontam": ("--benchmarks", "benchmarks", "benchmark JSONL/Parquet files or directories to "
                                               "decontaminate against (decontam.benchmarks)"),
}


def _common(p: argparse.ArgumentParser, config_required: bool) -> None:
    p.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH",
                   help="WARC(.gz), JSONL(.gz) or Parquet files, directories or globs (local or fsspec URLs)")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="output directory")
    p.add_argument("--config", "-c", required=config_required, metavar="FILE", help="YAML config")
    p.add_argument("--executor", choices=["local", "ray"], help="override executor.kind")
    p.add_argument("--workers", type=int, help="local: worker processes (0 = all cores); ray: actors in the pool")
    p.add_argument("--address", help="ray executor: cluster address (default: start a local Ray)")
    p.add_argument("--work-dir", metavar="DIR", help="override executor.work_dir: the run's work files (task parts, "
                   "dedup keys and decisions) in DIR/NAME-RUNID, a local path or any fsspec URL, not OUTPUT/_work")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary table")
    p.add_argument("--overwrite", action="store_true", help="delete OUTPUT first (the default is to resume)")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``refinery`` parser. With ``argv``, an extra command's module (``COMMANDS``: card
    rendering, tokenizer training, …, ~1 s of imports together) is imported only when
    ``argv`` names that command or no known command (help, a typo: every choice is listed)."""
    parser = argparse.ArgumentParser(prog="refinery", description="Clean web crawls into pretraining data.")
    parser.add_argument("--version", action="version", version=f"webrefinery {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("run", help="run the whole pipeline of a config", description=(
        "Run the pipeline of --config (without one: the built-in defaults, the same as configs/default.yaml) "
        "over the inputs into OUTPUT. Rerunning the same command resumes an interrupted run."))
    _common(p, config_required=False)
    p.set_defaults(func=_run_cmd, stage=None)
    order = {n: i for i, n in enumerate(DEFAULT_PIPELINE)}
    for name, spec in sorted(STAGES.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        if not available(spec):
            continue
        p = sub.add_parser(name, help=f"run only the {name} stage", description=(
            f"Run only the {name} stage (after read, and extract when it needs text from WARC input) with the "
            f"{name} section of --config (without one: the defaults)."))
        _common(p, config_required=False)
        if name in STAGE_OPTIONS:
            flag, key, text = STAGE_OPTIONS[name]
            p.add_argument(flag, nargs="+", dest="stage_option", metavar="PATH", help=text)
        p.set_defaults(func=_run_cmd, stage=name)
    named = next((a for a in argv or [] if not a.startswith("-")), None)
    if named in COMMANDS:
        extra = [named]
    elif named == "run" or named in STAGES:
        extra = []
    else:
        extra = list(COMMANDS)
    for name in extra:
        if available(COMMANDS[name]):
            load_object(COMMANDS[name])(sub)
    for command in sub.choices.values():
        command.formatter_class = _DefaultsFormatter
    return parser


class _DefaultsFormatter(argparse.HelpFormatter):
    """Each option's help ends with its default, unless there is none to show (None, a flag's
    False) or the help already says it: argparse's ArgumentDefaultsHelpFormatter prints
    ``(default: None)`` and ``(default: False)`` too."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _run_cmd(args: argparse.Namespace) -> int:
    from webrefinery.pipeline.core.config import load_config
    from webrefinery.pipeline.io.readers import resolve_inputs
    from webrefinery.pipeline.runtime.plan import stage_list
    from webrefinery.pipeline.runtime.runner import run, summary_table

    config = load_config(args.config)
    ex = config.executor.model_dump()
    if args.executor:
        ex["kind"] = args.executor
    if args.workers is not None:  # processes of the local pool, or actors of the Ray pool
        ex["workers"] = args.workers
        if ex["kind"] == "ray" and args.workers:
            ex["ray"] = {**ex["ray"], "actor_pool_size": args.workers}
    if args.address:
        ex["ray"] = {**ex["ray"], "address": args.address}
    if args.work_dir:
        ex["work_dir"] = args.work_dir
    if ex != config.executor.model_dump():
        config = config.model_copy(update={"executor": type(config.executor).model_validate(ex)})
    if getattr(args, "stage_option", None):  # e.g. `refinery dedup --against A`: that key of the section
        section = config.stage_config(args.stage)
        value = type(section).model_validate({**section.model_dump(), STAGE_OPTIONS[args.stage][1]: args.stage_option})
        config = config.model_copy(update={"stages": {**config.stages, args.stage: value}})
    files = resolve_inputs(args.input) if args.stage else []  # a stage command's stages depend on the formats
    stages = stage_list(args.stage, files, config.pipeline)
    if not args.quiet and args.stage and stages != [args.stage]:
        why = " (WARC input: its text comes from extract)" if "extract" in stages and args.stage != "extract" else ""
        print(f"refinery: running {' → '.join(stages)}{why}", file=sys.stderr)
    stats = run(config, args.input, args.output, stages=stages, quiet=args.quiet, overwrite=args.overwrite,
                command=shlex.join(["refinery"] + sys.argv[1:]))
    if not args.quiet:
        print(summary_table(stats))
    if stats["output"]["docs"] == 0:
        n, dropped = stats["errors"]["count"], stats["output"]["rejected_docs"]
        if n:
            why = f"had {n} error{'s' if n != 1 else ''} (stats.json \"errors\"); check the input and the warnings above"
        else:
            why = (f"dropped all {dropped} documents it read (the funnel in stats.json; their reasons in rejected/ "
                   "unless output.write_rejected is off)" if dropped else "read no document")
        log.warning("the run published 0 documents: it %s", why)
    return 0


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that a run stops as on Ctrl-C: the executor stops
    its workers, half-written files are dropped, and a rerun resumes."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _os_error(e: OSError, args: argparse.Namespace) -> str | None:
    """The one line for an OSError the user can fix (full disk, no permission), else None."""
    where = e.filename or getattr(args, "output", None) or "the output"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"disk full while writing {where}; free space or choose another --output, then rerun the same "
                "command to resume")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"no permission for {where} ({e.strerror}); --output must be a writable directory and every "
                "input readable: fix the permissions or choose another --output, then rerun the same command")
    return None


def _storage_error(e: BaseException, args: argparse.Namespace) -> str | None:
    """The one line for an object-store error the user can fix (missing bucket, credentials),
    naming the URL: the failing one, else the output's or the first input's."""
    what = storage_problem(e)
    if what is None:
        return None
    urls = [getattr(e, "filename", None), getattr(args, "output", None), getattr(args, "out", None),
            *(getattr(args, "input", None) or [])]
    url = next((str(u) for u in urls if u and "://" in str(u)), "the object store")
    return f"{url}: {what}; then rerun the same command ({type(e).__name__}: {e})"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    skip_final_gc()
    args = build_parser(argv).parse_args(argv)
    logger = setup_logging(getattr(args, "quiet", False))
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        with logging_redirect_tqdm(loggers=[logger]):  # log lines do not tear the progress bars apart
            return args.func(args)
    except StageFailure as e:
        print(f"refinery: error: {e}", file=sys.stderr)
        return EXIT_SYSTEMIC
    except RefineryError as e:
        print(f"refinery: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # botocore's credential errors are not OSErrors
        line = _storage_error(e, args) or (_os_error(e, args) if isinstance(e, OSError) else None)
        if line is None:
            raise
        print(f"refinery: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("refinery: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Terminated:
        print("refinery: terminated (SIGTERM); rerun the same command to resume", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
