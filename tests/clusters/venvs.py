"""A venv that is on no PATH and whose python imports this checkout's trainer (and the test
environment's torch/trl/peft), like a user's ~/venvs/arc on a cluster; plus `arc_probe`, a module
only it can import, for jobs that must prove which interpreter ran them."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make_venv(root: Path) -> Path:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True)
    site = subprocess.run(
        [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "arc_checkout.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    Path(site, "arc_probe.py").write_text(
        "import json, os, sys, trainer\n"
        "out = os.path.join(os.path.dirname(sys.argv[1]), 'probe.json')\n"
        "json.dump({'python': sys.executable, 'trainer': trainer.__file__, 'cwd': os.getcwd()}, open(out, 'w'))\n"
    )
    return root
