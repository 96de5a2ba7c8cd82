"""Render-time checks of the files a job reads, for jobs launched on this machine.

A job that fails on its input files fails after waiting in a queue and loading a model; these
checks read the same files when `render`/`submit` run with a local profile (on a remote host the
paths name that host's files, and the trainer checks them there before loading the model).
Every problem is one SpecError naming the parameter and the file.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from jobs.errors import SpecError, quoted_list
from jobs.her_targets import is_toy

PROMPT_TEMPLATE_KEYS = ("system", "user", "assistant_prefix", "refine_user", "refine_assistant")
# kinds whose trainer loads `dataset` as ARC tasks (trainer.data); SFT reads tasks with programs
TASK_FILE_KINDS = ("grpo", "grpo-refine", "eval", "her")
# a template, profile or prompt template larger than this is refused unread: they are a few KB,
# and tomllib took ~15 s of CPU for 80 MB, all of it held in memory
MAX_TOML_BYTES = 4 << 20


def check_inputs(spec: Any) -> None:
    """Every render-time check of what a spec's job will read, for submit and fork alike: this
    machine's files when the job runs here, data set ids and HER targets anywhere."""
    local, kind, params = spec.host is None, spec.kind, spec.params
    if kind == "her":  # its targets: built-in ids and toy names anywhere, files on this machine
        from jobs.her_targets import check_targets

        check_targets(params["dataset"], params.get("task_ids"), params.get("max_tasks"), local=local)
    if local:
        check_local_inputs(kind, params)
    elif kind == "grpo-refine" and not params.get("refine_dataset"):
        raise SpecError("kind 'grpo-refine' needs refine_dataset (write one with `arcctl refine-data`)")
    check_task_ids(kind, params, local)
    check_model_paths(params)


def check_local_inputs(kind: str, params: dict[str, Any]) -> None:
    if kind == "grpo-refine" and not params.get("refine_dataset"):
        raise SpecError(
            "kind 'grpo-refine' needs refine_dataset (write one with `arcctl refine-data EVAL_RUN -o FILE`)"
        )
    dataset = params.get("dataset")
    checking = "dataset"
    try:
        if kind != "her" and isinstance(dataset, str):  # HER's own check knows its toy targets
            _dataset(dataset)
        if kind in TASK_FILE_KINDS and isinstance(dataset, str) and not is_toy(dataset):
            check_task_files(dataset)
        checking = "refine_dataset"
        if params.get("refine_dataset"):
            _refine(params)
        checking = "prompt_template"
        if params.get("prompt_template"):
            _prompt_template(
                str(params["prompt_template"]), refine=kind == "grpo-refine" or bool(params.get("refine_dataset"))
            )
        checking = "common_module"
        if params.get("common_module"):
            _common_module(str(params["common_module"]))
    except OSError as e:  # a path no file system takes (a name past 255 bytes or PATH_MAX)
        raise SpecError(f"{checking} {str(params.get(checking))!r}: {e.strerror or e}") from None


def check_task_ids(kind: str, params: dict[str, Any], local: bool) -> None:
    """GRPO and eval pick `task_ids` out of the data set when they start, and stop there on an id
    it lacks: a built-in set is checked on any profile, a task file only where it is on this
    machine (a folder of task files is left to the trainer). SFT imitates programs, which the
    built-in sets lack, and reads every task of its set."""
    from jobs.datasets import BUILTIN

    ids, dataset = params.get("task_ids"), str(params.get("dataset", "")).strip()
    if kind == "sft" and not params.get("synthetic_tasks") and dataset in BUILTIN:
        raise SpecError(
            f"dataset {dataset}: built-in ARC sets have no solution programs to imitate; set "
            'synthetic_tasks > 0 (or dataset = "synthetic:N") or give a file of tasks with programs'
        )
    if kind == "sft" and ids:
        raise SpecError("task_ids: SFT trains on every task of its data set (use max_tasks to take fewer)")
    if kind not in ("grpo", "grpo-refine", "eval") or not ids:
        return
    if dataset not in BUILTIN and not (local and Path(dataset).is_file()):
        return
    known = _builtin_ids(dataset) if dataset in BUILTIN else _file_ids(dataset)
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if unknown:
        raise SpecError(f"task_ids: {quoted_list(unknown)} not in dataset {dataset!r}")


@functools.lru_cache(maxsize=None)
def _builtin_tasks(dataset: str) -> dict[str, Any]:
    # once per process: a sweep checks every point against the same set
    from jobs.her_targets import tasks_of

    return tasks_of(dataset, local=True) or {}


def _builtin_ids(dataset: str) -> frozenset[str]:
    return frozenset(_builtin_tasks(dataset))


def _file_ids(dataset: str) -> frozenset[str]:
    from jobs.local_tasks import local_tasks

    return frozenset(local_tasks(dataset) or ())


def _dataset(dataset: str) -> None:
    """What the trainer's task loader takes: a built-in name, synthetic[:N], a file or a folder
    of task files. A typo ('arc1/trian') would otherwise fail only once the job has started."""
    from jobs.datasets import BUILTIN, MAX_SYNTHETIC, builtin_hint
    from jobs.sweep import suggest

    name = dataset.strip()
    if name in BUILTIN or name == "synthetic":
        return
    if name.startswith("synthetic:"):
        n = name.partition(":")[2]
        if not (n.isascii() and n.isdigit() and int(n) >= 1):
            raise SpecError(f"dataset {dataset!r}: expected synthetic:N with N a positive whole number")
        if int(n) > MAX_SYNTHETIC:
            raise SpecError(f"dataset {dataset!r}: at most {MAX_SYNTHETIC} synthetic tasks")
        return
    path = Path(name)
    try:
        if path.is_file() or path.is_dir():
            return
        what = "exists but is not a file or folder" if path.exists() else "no such file or folder"
    except OSError as e:  # a name past the file system's limits (ENAMETOOLONG)
        raise SpecError(f"dataset {dataset!r}: {e.strerror or e}") from None
    raise SpecError(
        f"dataset {dataset!r}: {what} on this machine, and not a built-in set{suggest(name, BUILTIN)} "
        f"({builtin_hint()}, synthetic[:N])"
    )


def check_task_files(dataset: str) -> None:
    """A local Kaggle-format file (with its `_solutions` sibling) or folder of task files, read
    and validated as the trainer will: a ragged row, a colour 10, an empty or 31-row grid or a
    pair without its output would otherwise stop the job once it has queued and loaded its model."""
    from jobs.local_tasks import local_tasks

    local_tasks(dataset)


def _refine(params: dict[str, Any]) -> None:
    from jobs import refine
    from jobs.datasets import BUILTIN
    from jobs.local_tasks import local_tasks

    path = str(params["refine_dataset"])
    if not Path(path).is_file():
        raise SpecError(f"refine_dataset {path}: no such file (write it with `arcctl refine-data EVAL_RUN -o {path}`)")
    doc = refine.load(path)
    if doc.dataset != params.get("dataset"):
        raise SpecError(
            f"refine_dataset {path} answers dataset {doc.dataset!r}, but dataset is "
            f"{params.get('dataset')!r} (set -p dataset={doc.dataset})"
        )
    name = doc.dataset.strip()
    if name in BUILTIN or Path(name).is_file():  # a folder or synthetic set is left to the trainer
        tasks = _builtin_tasks(name) if name in BUILTIN else local_tasks(name) or {}
        shapes = {tid: _shape(t) for tid, t in tasks.items()}
        refine.select_records(doc, path, shapes, params.get("task_ids"), params.get("max_tasks"))


def _shape(task: Any) -> tuple[int, int]:
    """(train pairs, test inputs) of a raw task; a malformed task has none (its records are refused)."""
    if not isinstance(task, dict):
        return (0, 0)
    train, test = task.get("train"), task.get("test")
    return (len(train) if isinstance(train, list) else 0, len(test) if isinstance(test, list) else 0)


def read_prompt_template(path: str, error: type[SpecError] = SpecError) -> dict[str, str]:
    """A prompt template file's keys and texts (what the trainer renders and the console checks);
    `error` with one line naming the file for anything unreadable, unknown or not a string."""
    if Path(path).exists() and not Path(path).is_file():  # a folder or a FIFO (reading one would block)
        raise error(f"prompt_template {path}: not a regular file")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise error(f"prompt_template {path}: larger than {MAX_TOML_BYTES >> 20} MiB")
        raw = tomllib.loads(data.decode("utf-8"))
    except OSError as e:
        raise error(f"prompt_template {path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise error(f"prompt_template {path}: not UTF-8 text") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise error(f"prompt_template {path}: not valid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"prompt_template {path}: not valid TOML: {e}") from None
    unknown = [k for k in raw if k not in PROMPT_TEMPLATE_KEYS]
    if unknown:
        raise error(f"prompt_template {path}: unknown key '{unknown[0]}' (keys: {', '.join(PROMPT_TEMPLATE_KEYS)})")
    if "user" not in raw:
        raise error(f"prompt_template {path}: the key 'user' is required")
    bad = [k for k, v in raw.items() if not isinstance(v, str)]
    if bad:
        raise error(f"prompt_template {path}: '{bad[0]}' must be a string")
    return raw


# the fields trainer/prompt_template.py gives a template (its docstring lists them); the first-turn
# keys are rendered without an earlier attempt, so only the refine keys see the refine fields
PROMPT_FIELDS = frozenset({"task_id", "test_index", "n_train", "encoder_description", "train", "test_input"})
REFINE_FIELDS = frozenset({"program", "error", "message", "feedback", "feedback_text"})


def _prompt_template(path: str, refine: bool = False) -> None:
    raw = read_prompt_template(path)
    if refine and "refine_user" not in raw:
        raise SpecError(f"prompt_template {path}: this job refines earlier programs: the key 'refine_user' is required")
    try:
        from jinja2 import Environment, TemplateSyntaxError, meta
    except ImportError:  # the console without jinja2: the trainer checks the syntax
        return
    env = Environment()
    for key, text in raw.items():
        if key == "assistant_prefix":
            continue
        try:
            names = meta.find_undeclared_variables(env.parse(str(text))) - set(env.globals)
        except TemplateSyntaxError as e:
            raise SpecError(f"prompt_template {path}: {key}: line {e.lineno}: {e.message}") from None
        # a misspelt field would stop the job when the trainer renders its sample, after the queue
        known = PROMPT_FIELDS | (REFINE_FIELDS if key.startswith("refine_") else frozenset())
        unknown = sorted(names - known)
        if unknown:
            raise SpecError(
                f"prompt_template {path}: {key}: unknown field '{unknown[0]}' (fields: {', '.join(sorted(known))})"
            )


def check_model_paths(params: dict[str, Any]) -> None:
    """A model or adapter given as a relative or `~` path: the job runs in its own run dir and
    the trainer expands nothing, so it would load nothing, on any backend. (An absolute path may
    exist only where the job runs: a cluster node, a container; a hub id `org/name` is the
    trainer's to resolve.)"""
    for key in ("model_path", "adapter_path"):
        value = params.get(key)
        if isinstance(value, str) and value.startswith(("./", "../", "~")):
            why = "the trainer expands no ~" if value.startswith("~") else "the job runs in its run dir"
            where = Path(value).expanduser().absolute()
            raise SpecError(f"{key} {value}: {why}; give the absolute path (here: {where})")


def _common_module(path: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"common_module {path}: not a file")
    try:
        compile(p.read_bytes(), path, "exec")
    except SyntaxError as e:
        raise SpecError(f"common_module {path}: line {e.lineno}: SyntaxError: {e.msg}") from None
    except (OSError, ValueError) as e:
        raise SpecError(f"common_module {path}: cannot read ({e})") from None
