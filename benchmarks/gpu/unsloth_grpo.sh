#!/usr/bin/env bash
# backend = "unsloth" against backend = "trl" on one H200 call: the same small GRPO config
# (benchmarks/gpu/unsloth_grpo.params: 8 generations x 256 tokens, LoRA r=16 on all linear layers,
# 3 steps) through the real trainer, at the 0.9B shape and the Llama-3.1-8B shape (random init, our
# tokenizer). Run from the repo root on the GPU host, .whl and .whl-unsloth carried:
#   . benchmarks/gpu/install_wheels.sh && benchmarks/gpu/unsloth_grpo.sh $OUT
# The unsloth runs see /tmp/site-u first on PYTHONPATH (unsloth, unsloth_zoo, trl 1.14.2, datasets
# 4.8.5: unsloth caps trl at 1.15 and datasets below 5), the trl runs the project's own set in
# /tmp/site. Order: unsloth 0.9B, unsloth 8B, then the trl baselines (8B, 0.9B). Each run has its own
# timeout cut to what is left of BUDGET_S and copies its metrics to OUT/<run>/ when it ends; the
# table at the end has one row per logged step (step time, generation / reward / optimisation split,
# peak GPU memory allocated). Environment: BUDGET_S (seconds for the whole script, default 510),
# MODEL_09B / MODEL_8B (model dirs, built when they hold no config.json), EXTRA_PARAMS (KEY=VALUE
# overrides for every run, space-separated; e.g. a CPU smoke run of the script's own logic).
set -u
out=${1:?usage: unsloth_grpo.sh OUT}
budget=${BUDGET_S:-510}
here=benchmarks/gpu
mkdir -p "$out"
# No network on the GPU host: every hub lookup and unsloth's usage statistics download stay off.
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 UNSLOTH_DISABLE_STATISTICS=1 \
  UNSLOTH_COMPILE_LOCATION=/tmp/unsloth_compiled_cache ARCCTL_HOME=/tmp/arcctl-home
base_path=${PYTHONPATH:-/tmp/site:$PWD}
unsloth_path=/tmp/site-u:$base_path
stamp() { echo "== $(date -u +%T) t=${SECONDS}s $*"; }
# seconds for a run: its cap, or what is left of the budget minus a reserve for the runs after it,
# but at least 60 s while the budget lasts (an earlier run is worth more than a later one)
cap() {
  local left=$((budget - SECONDS)) t
  t=$((left - $2)); [ "$t" -gt "$1" ] && t=$1
  [ "$t" -lt 60 ] && t=60; [ "$t" -gt "$left" ] && t=$left
  echo "$t"
}

stamp "install the unsloth set into /tmp/site-u"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site-u \
  .whl-unsloth/*.whl > "$out/install.log" 2>&1 || { cat "$out/install.log"; exit 1; }
ls .whl-unsloth

stamp "build the models (background) and import unsloth"
build() {  # DIR HIDDEN LAYERS HEADS KV_HEADS INTERMEDIATE
  [ -f "$1/config.json" ] && return 0
  PYTHONPATH=$base_path timeout 150 python3 -m trainer tiny-model "$1" --hidden "$2" --layers "$3" --heads "$4" \
    --kv-heads "$5" --intermediate "$6" --dtype bfloat16 --device cuda > "$out/build-$(basename "$1").log" 2>&1
}
m09=${MODEL_09B:-/tmp/gb/model-0.9b}
m8=${MODEL_8B:-/tmp/gb/model-8b}
build $m09 2048 16 16 8 8192 &
b09=$!
build $m8 4096 32 32 8 14336 &
b8=$!
PYTHONPATH=$unsloth_path timeout 120 python3 $here/unsloth_grpo.py versions --import-unsloth > "$out/import.log" 2>&1
import_rc=$?
tail -4 "$out/import.log"
PYTHONPATH=$base_path python3 $here/unsloth_grpo.py versions
wait $b09 $b8
ls $m09/config.json $m8/config.json || tail -3 "$out"/build-*.log

run() {  # NAME MODEL BACKEND CAP RESERVE
  local name=$1 model=$2 backend=$3 path=$base_path t rd=/tmp/ug/$1
  t=$(cap "$4" "$5")
  if [ "$t" -lt 30 ]; then stamp "skip $name: ${t}s of the budget left"; return; fi
  [ "$backend" = unsloth ] && path=$unsloth_path
  stamp "$name (timeout ${t}s)"
  rm -rf "$rd"
  mkdir -p "$out/$name"
  # shellcheck disable=SC2086  # EXTRA_PARAMS is a list of words
  PYTHONPATH=$path python3 $here/unsloth_grpo.py spec "$rd" "$model" "$backend" ${EXTRA_PARAMS:-} > /dev/null || return
  # SIGTERM first: the trainer ends its step cleanly; metrics of the finished steps are on disk either way
  PYTHONPATH=$path timeout -k 20 "$t" python3 -m trainer run "$rd" > "$out/$name/log" 2>&1
  echo "$name: exit code $? at t=${SECONDS}s"
  cp "$rd"/metrics.jsonl "$rd"/events.jsonl "$rd"/spec.json "$out/$name/" 2>/dev/null
  # unsloth's banner (patching, attention kernels, bf16) and its notes about the config it changed
  grep -E -e 'Fast [A-Za-z]+ patching|Xformers =|Torch: ' -e '^Unsloth: ' "$out/$name/log" | head -12
  grep -v -e 'it/s]' -e '^ *warnings.warn' "$out/$name/log" | tail -6
  python3 $here/unsloth_grpo.py table "$out" | grep -e "^| $name " -e "^| run "
}

# an import that failed fails the runs the same way; one that only ran out of time may still work there
if [ "$import_rc" = 0 ] || [ "$import_rc" = 124 ]; then
  unsloth_ok=1
else
  unsloth_ok=0
  stamp "import unsloth failed (rc $import_rc): the unsloth runs are skipped"
  cat "$out/import.log"
fi
# ORDER=small-first (a short budget): both backends at 0.9B first, then 8B
if [ "${ORDER:-}" = small-first ]; then
  [ $unsloth_ok = 1 ] && run unsloth-0.9b $m09 unsloth 110 150
  run trl-0.9b $m09 trl 80 90
  [ $unsloth_ok = 1 ] && run unsloth-8b $m8 unsloth 190 0
else
  [ $unsloth_ok = 1 ] && run unsloth-0.9b $m09 unsloth 150 250
  [ $unsloth_ok = 1 ] && run unsloth-8b $m8 unsloth 190 150
  run trl-8b $m8 trl 150 60
  run trl-0.9b $m09 trl 100 0
fi

stamp "done"
python3 $here/unsloth_grpo.py versions > "$out/versions.txt" 2>&1
python3 $here/unsloth_grpo.py table "$out" | tee "$out/table.md"
