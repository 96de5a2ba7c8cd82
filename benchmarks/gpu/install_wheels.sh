#!/usr/bin/env bash
# On the GPU host (no network): install the wheels carried in .whl/ into /tmp/site, keeping the
# host's own torch/transformers/peft/accelerate. Source it: `. benchmarks/gpu/install_wheels.sh`.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
python3 -c "import torch, transformers, trl, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'cuda', torch.cuda.is_available())"
set +e
