"""Where arcctl keeps things: the config dir (user templates and profiles) and the data dir
(registry, default runs root). XDG locations via platformdirs; env vars override so tests and
several installations never share state by accident."""

from __future__ import annotations

import os
from pathlib import Path

APP = "arcctl"
REGISTRY_FILE = "registry.sqlite"


def config_dir() -> Path:
    """User templates live in <config>/templates, user profiles in <config>/profiles."""
    env = os.environ.get("ARCCTL_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """ARCCTL_HOME: the registry and, unless a profile says otherwise, the run dirs."""
    env = os.environ.get("ARCCTL_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def runs_root() -> Path:
    return data_dir() / "runs"


def registry_path() -> Path:
    return data_dir() / REGISTRY_FILE


def user_templates_dir() -> Path:
    return config_dir() / "templates"


def user_profiles_dir() -> Path:
    return config_dir() / "profiles"
