"""The container recipes (containers/Dockerfile, containers/arcctl-trainer.def) install this
package with pyproject's own extras and pins, copy everything the package is made of, carry its
version, and are what the HTCondor docker example profile runs: no drift between them.
(No docker daemon here: the recipes are checked as text against pyproject, not built.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
DOCKERFILE = (ROOT / "containers" / "Dockerfile").read_text()
DEF = (ROOT / "containers" / "arcctl-trainer.def").read_text()


def _extras(text: str) -> list[str]:
    [m] = re.findall(r"^\s*(?:ARG\s+)?EXTRAS=([\w,-]+)\s*$", text, re.M)
    return m.split(",")


def _base(text: str) -> str:
    m = re.search(r"^ARG BASE=(\S+)", text, re.M) or re.search(r"^From:\s*(\S+)", text, re.M)
    return m.group(1)


def _requirement(extra: str, name: str) -> SpecifierSet:
    for req in PYPROJECT["project"]["optional-dependencies"][extra]:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", req)
        if m.group(1).lower() == name:
            return SpecifierSet(m.group(2))
    raise AssertionError(f"{name} not in extra {extra}")


def test_both_recipes_install_the_package_with_pyproject_extras():
    extras = _extras(DOCKERFILE)
    assert extras == _extras(DEF)
    assert "train" in extras and set(extras) <= set(PYPROJECT["project"]["optional-dependencies"])
    for text in (DOCKERFILE, DEF):
        installs = re.findall(r"pip install (.+)$", text, re.M)
        # one install, of this checkout with its extras: the package's pins are the image's pins
        assert installs == ['"/opt/arcctl[${EXTRAS}]" \\'] or installs == ['"/opt/arcctl[${EXTRAS}]"'], installs
        assert "import trainer, torch, transformers, trl, peft" in text


def test_recipes_copy_every_part_of_the_package():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    needed = packages | {"pyproject.toml", PYPROJECT["project"]["readme"]}
    copied = {m for m in re.findall(r"^COPY (\S+)", DOCKERFILE, re.M)} | {
        w for line in re.findall(r"^COPY (.+) \./$", DOCKERFILE, re.M) for w in line.split()
    }
    assert needed <= copied, needed - copied
    files = DEF.split("%files", 1)[1].split("%", 1)[0]
    assert needed <= {line.split()[0] for line in files.strip().splitlines()}
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not (needed & ignored)


def test_same_base_image_whose_torch_satisfies_pyproject():
    base = _base(DOCKERFILE)
    assert base == _base(DEF)
    torch = re.search(r":(\d+\.\d+\.\d+)-cuda", base).group(1)
    assert torch in _requirement("train", "torch"), (torch, _requirement("train", "torch"))


def test_version_labels_and_the_docker_profile_use_the_package_version():
    assert f'org.opencontainers.image.version="{VERSION}"' in DOCKERFILE
    assert f"org.opencontainers.image.version {VERSION}" in DEF
    assert f"-t arcctl-trainer:{VERSION} ." in DOCKERFILE and f"arcctl-trainer-{VERSION}.sif" in DEF
    profile = tomllib.loads((ROOT / "templates" / "profiles" / "condor-example.toml").read_text())
    assert profile["options"]["universe"] == "docker"
    assert profile["options"]["docker_image"] == f"arcctl-trainer:{VERSION}"
