"""TOML job templates and launch profiles.

Built-in ones ship in the `templates` package; user ones in <config>/templates/*.toml and
<config>/profiles/*.toml override built-ins of the same name. Every problem is reported as a
TemplateError naming the file (and line, for malformed TOML), with the closest known name for
typos.

Template file:                          Profile file:
  [template] kind, description,           [profile] backend, host, description, runs_root
             name (pattern), entry        [resources] overrides of the template's
  [params]    defaults (typed by kind)    [options] backend options (docker image, ...)
  [resources] gpus, cpus, memory, ...     [env] environment of the job
  [health]    collapse thresholds
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs import config
from jobs.backends.base import env_name_error
from jobs.errors import JobsError, TemplateError
from jobs.inputs import MAX_TOML_BYTES
from jobs.sweep import coerce, suggest

BUILTIN = "built-in"
_TEMPLATE_KEYS = {"kind", "description", "name", "entry"}
_PROFILE_KEYS = {"backend", "host", "description", "runs_root"}
BACKENDS = ("local", "htcondor", "slurm")


@dataclass
class Template:
    name: str
    kind: str
    name_pattern: str
    params: dict[str, Any]
    resources: dict[str, Any] = field(default_factory=dict)
    health: dict[str, float] = field(default_factory=dict)
    entry: list[str] | None = None
    description: str = ""
    path: str = ""
    source: str = BUILTIN


@dataclass
class Profile:
    name: str
    backend: str
    host: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    runs_root: str | None = None
    description: str = ""
    path: str = ""
    source: str = BUILTIN
    # [resources.<kind>]: what one kind of job gets instead (SFT need not take GRPO's 20 CPUs)
    kind_resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resources_for(self, kind: str) -> dict[str, Any]:
        return {**self.resources, **self.kind_resources.get(kind, {})}


def builtin_dir() -> Path:
    import templates

    return Path(templates.__file__).parent


def _read_toml(path: Path) -> dict[str, Any]:
    if path.exists() and not path.is_file():  # a folder or a FIFO (reading one would block)
        raise TemplateError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOML_BYTES + 1)
        if len(data) > MAX_TOML_BYTES:
            raise TemplateError(f"{path}: larger than {MAX_TOML_BYTES >> 20} MiB (a template or profile is a few KB)")
        text = data.decode("utf-8")
    except OSError as e:
        raise TemplateError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise TemplateError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from None
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))  # the byte-order mark some Windows editors write
    except RecursionError:  # tomllib recurses once per nesting level
        raise TemplateError(f"{path}: malformed TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = m.group(1) if m else "?"
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg).replace("\n", " ")
        raise TemplateError(f"{path}:{line}: malformed TOML: {msg}") from None


def _table(doc: dict, key: str, path: Path, required: bool = False) -> dict:
    val = doc.get(key, None)
    if val is None:
        if required:
            raise TemplateError(f"{path}: missing [{key}] table")
        return {}
    if not isinstance(val, dict):
        raise TemplateError(f"{path}: '{key}' must be a [{key}] table")
    return val


def _check_keys(tab: dict, allowed: set[str], where: str, path: Path) -> None:
    for k in tab:
        if k not in allowed:
            raise TemplateError(f"{path}: unknown key {k!r} in {where}{suggest(k, allowed)}")


def _open(path: Path, file_keys: set[str], section: str, section_keys: set[str]) -> tuple[dict, dict]:
    """The TOML document and its required head table ([template] or [profile]), keys checked."""
    doc = _read_toml(path)
    _check_keys(doc, file_keys, "the file", path)
    head = _table(doc, section, path, required=True)
    _check_keys(head, section_keys, f"[{section}]", path)
    return doc, head


def _one_of(value: Any, choices: Any, path: Path, where: str) -> None:
    if value not in choices:
        raise TemplateError(
            f"{path}: {where} {str(value)!r} is not one of {', '.join(choices)}{suggest(str(value), choices)}"
        )


def _coerced(kind: str, tab: dict, path: Path, section: str, prefix: str = "") -> dict[str, Any]:
    """Each value of a table through the kind's parameter types; an error names file and table."""
    out = {}
    for k, v in tab.items():
        try:
            out[k] = coerce(kind, prefix + k, v)
        except JobsError as e:
            raise TemplateError(f"{path}: [{section}] {e}") from None
    return out


def _resources(tab: dict, path: Path, kind: str = "grpo") -> dict[str, Any]:
    return _coerced(kind, tab, path, "resources", "resources.")


def parse_template(path: Path, source: str = BUILTIN) -> Template:
    from jobs.params import PARAMS_BY_KIND

    doc, head = _open(path, {"template", "params", "resources", "health"}, "template", _TEMPLATE_KEYS)
    kind = head.get("kind")
    _one_of(kind, PARAMS_BY_KIND, path, "[template] kind")
    pattern = head.get("name")
    if not isinstance(pattern, str) or not pattern.strip():
        raise TemplateError(f'{path}: [template] needs a name pattern, e.g. name = "lr{{learning_rate}}"')
    entry = head.get("entry")
    if entry is not None and (not isinstance(entry, list) or not entry or not all(isinstance(x, str) for x in entry)):
        raise TemplateError(f"{path}: [template] entry must be a non-empty list of strings")
    params = _coerced(kind, _table(doc, "params", path), path, "params")
    health = _table(doc, "health", path)
    if health:
        if "health" not in PARAMS_BY_KIND[kind].model_fields:
            raise TemplateError(f"{path}: [health] is not supported for kind {kind}")
        health = _coerced(kind, {"health": health}, path, "health")["health"]
    from jobs.naming import pattern_fields

    try:
        fields = pattern_fields(pattern)
    except TemplateError as e:
        raise TemplateError(f"{path}: {e}") from None
    for f in fields:
        if f not in PARAMS_BY_KIND[kind].model_fields:
            raise TemplateError(
                f"{path}: name pattern uses unknown parameter {f!r}{suggest(f, PARAMS_BY_KIND[kind].model_fields)}"
            )
    return Template(
        name=path.stem,
        kind=kind,
        name_pattern=pattern,
        params=params,
        resources=_resources(_table(doc, "resources", path), path, kind),
        health=health,
        entry=list(entry) if entry else None,
        description=str(head.get("description", "")),
        path=str(path),
        source=source,
    )


def parse_profile(path: Path, source: str = BUILTIN) -> Profile:
    doc, head = _open(path, {"profile", "resources", "options", "env"}, "profile", _PROFILE_KEYS)
    backend = head.get("backend")
    _one_of(backend, BACKENDS, path, "[profile] backend")
    from jobs.params import PARAMS_BY_KIND

    res = _table(doc, "resources", path)
    common = {k: v for k, v in res.items() if not isinstance(v, dict)}
    per_kind = {k: v for k, v in res.items() if isinstance(v, dict)}
    for k in per_kind:
        if k not in PARAMS_BY_KIND:
            raise TemplateError(
                f"{path}: [resources.{k}]: no job kind {k!r}{suggest(k, PARAMS_BY_KIND)}; "
                f"kinds: {', '.join(PARAMS_BY_KIND)}"
            )
    env = _table(doc, "env", path)
    for k, v in env.items():
        if not isinstance(v, (str, int, float, bool)):
            raise TemplateError(f"{path}: [env] {k} must be a string")
        why = env_name_error(k)
        if why:
            raise TemplateError(f"{path}: profile {path.stem}: [env] {why}")
    for key in ("host", "runs_root"):
        value = head.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise TemplateError(f"{path}: [profile] {key} must be a non-empty string, not {value!r}")
    host = head.get("host")
    if host is not None and (host.startswith("-") or any(c.isspace() or ord(c) < 32 for c in host)):
        raise TemplateError(f"{path}: [profile] host {host!r} is not an ssh host name (no leading '-', no blanks)")
    if backend == "local" and host:
        raise TemplateError(f'{path}: the local backend runs on this machine; remove host = "{host}"')
    return Profile(
        name=path.stem,
        backend=backend,
        host=host,
        resources=_resources(common, path),
        kind_resources={k: _resources(v, path, k) for k, v in per_kind.items()},
        options=dict(_table(doc, "options", path)),
        env={k: str(v) for k, v in env.items()},
        runs_root=head.get("runs_root"),
        description=str(head.get("description", "")),
        path=str(path),
        source=source,
    )


def _files(kind: str) -> dict[str, tuple[Path, str]]:
    """name -> (file, source); user files override built-ins of the same name."""
    if kind == "templates":
        dirs = [(builtin_dir(), BUILTIN), (config.user_templates_dir(), "user")]
    else:
        dirs = [(builtin_dir() / "profiles", BUILTIN), (config.user_profiles_dir(), "user")]
    out: dict[str, tuple[Path, str]] = {}
    for d, source in dirs:
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                out[p.stem] = (p, source)
    return out


def template_names() -> list[str]:
    return sorted(_files("templates"))


def profile_names() -> list[str]:
    return sorted(_files("profiles"))


_PARSERS = {"templates": parse_template, "profiles": parse_profile}


def _load(folder: str, name: str) -> Any:
    """A template or profile by name (user files shadow built-in ones) or by the path of a .toml file."""
    p = Path(name)
    if name.endswith(".toml") and p.is_file():  # a path works too
        return _PARSERS[folder](p, source="file")
    files = _files(folder)
    if name not in files:
        what = folder[:-1]
        raise TemplateError(
            f"unknown {what} {name!r}{suggest(name, files)}; known: {', '.join(sorted(files)) or 'none'}"
        )
    path, source = files[name]
    return _PARSERS[folder](path, source)


def _load_all(folder: str) -> list[Any]:
    """Every file of a folder; a broken one is returned as its error so one bad file hides nothing else."""
    out: list[Any] = []
    for _name, (path, source) in sorted(_files(folder).items()):
        try:
            out.append(_PARSERS[folder](path, source))
        except TemplateError as e:
            out.append(e)
    return out


def load_template(name: str) -> Template:
    return _load("templates", name)


def load_profile(name: str) -> Profile:
    return _load("profiles", name)


def list_templates() -> list[Template | TemplateError]:
    return _load_all("templates")


def list_profiles() -> list[Profile | TemplateError]:
    return _load_all("profiles")
