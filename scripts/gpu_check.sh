#!/usr/bin/env bash
# GPU check: load → train → index → search → bench_query on CUDA, with the CPU figures beside.
#
# For a GPU machine that has Python with torch (CUDA) and torch-geometric preinstalled and
# no package registry: everything else travels as wheels (at most 64 MiB per trip: loose
# *.whl files and/or tarballs of them in $WHEELS), unpacked and installed offline first.
# Prints trainer pairs/s, GPU utilisation and memory (nvidia-smi, sampled while training),
# one-shot `kgjemb search` wall time, query latency (bench_query: p50/p99 per query type
# with the per-stage breakdown) — each for CUDA and for the CPU. Asserts nothing.
#
#   scripts/gpu_check.sh                       # on the GPU machine (DEVICE=cuda)
#   WHEELS=/scratch/wheels SYNTH=200000 scripts/gpu_check.sh
#   scripts/gpu_check.sh --dry-run             # tiny, CPU only, no installs: what the tests run
#
# Knobs (environment): PY (python, default python3), DEVICE (cuda|cpu, default cuda),
# CATALOG (default graph/fixtures/example), PRESET (trainer preset, default ci), EPOCHS (3),
# STEPS (timed trainer steps for pairs/s, 20), SYNTH (synthetic index size for bench_query,
# 200000; 0 skips it), QUERIES (per query type, 100), CPU_TOO (1: also the CPU figures),
# THREADS (trainer threads for pairs/s, default nproc), WHEELS (folder of wheels/tarballs,
# default .whl), WORK (scratch folder, default a temp dir).
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu_check: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

PY="${PY:-python3}"
if [ "$DRY" = 1 ]; then
  DEVICE=cpu; EPOCHS="${EPOCHS:-1}"; STEPS="${STEPS:-2}"; SYNTH="${SYNTH:-2000}"; QUERIES="${QUERIES:-5}"; CPU_TOO=0
fi
DEVICE="${DEVICE:-cuda}"
CATALOG="${CATALOG:-$REPO/graph/fixtures/example}"
PRESET="${PRESET:-ci}"
EPOCHS="${EPOCHS:-3}"
STEPS="${STEPS:-20}"
SYNTH="${SYNTH:-200000}"
QUERIES="${QUERIES:-100}"
CPU_TOO="${CPU_TOO:-1}"
[ "$DEVICE" = cpu ] && CPU_TOO=0
WHEELS="${WHEELS:-$REPO/.whl}"
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/kgjemb-gpu-check.XXXXXX")}"
mkdir -p "$WORK"
HOME_DIR="$WORK/home"
SUMMARY="$WORK/summary.txt"
: > "$SUMMARY"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export KGJEMB_HOME="$HOME_DIR"
cd "$WORK"  # nothing lands in the checkout

say() { printf '\n== %s\n' "$*"; }
figure() { printf '%-44s %s\n' "$1" "$2" | tee -a "$SUMMARY"; }
now() { "$PY" -c 'import time; print(time.perf_counter())' 2>/dev/null || date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
kgjemb() { "$PY" -c 'import sys; sys.argv[0] = "kgjemb"; from kgjemb.cli import main; main()' "$@"; }

# -- 0. wheels ------------------------------------------------------------------------------
if [ "$DRY" = 0 ] && [ -d "$WHEELS" ]; then
  say "installing carried wheels from $WHEELS (offline)"
  mkdir -p "$WORK/wheels"
  for tarball in "$WHEELS"/*.tar "$WHEELS"/*.tar.gz "$WHEELS"/*.tgz; do
    [ -f "$tarball" ] && tar -xf "$tarball" -C "$WORK/wheels"
  done
  find "$WHEELS" -maxdepth 1 -name '*.whl' -exec cp {} "$WORK/wheels/" \;
  mapfile -t wheels < <(find "$WORK/wheels" -name '*.whl')
  if [ "${#wheels[@]}" -gt 0 ]; then
    "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WORK/wheels" "${wheels[@]}"
  fi
fi

say "environment"
"$PY" - <<'EOF'
import platform, torch
from kgjemb.device import cuda_available
print(f"python {platform.python_version()}, torch {torch.__version__}, torch.cuda {torch.cuda.is_available()}, "
      f"driver sees CUDA {cuda_available()}" + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
try:
    import faiss
    print(f"faiss {faiss.__version__}, GPUs seen by faiss: {getattr(faiss, 'get_num_gpus', lambda: 0)()}")
except ImportError as err:
    print(f"faiss missing: {err}")
try:
    import onnxruntime as ort
    print(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}")
except ImportError as err:
    print(f"onnxruntime missing: {err}")
EOF
figure "device" "$DEVICE (dry run: $DRY)"

# -- 1. load --------------------------------------------------------------------------------
say "graph load $CATALOG"
t0=$(now); kgjemb graph load "$CATALOG" --home "$HOME_DIR" --no-progress > "$WORK/load.txt"; t1=$(now)
figure "graph load s" "$(secs "$t0" "$t1")"

# -- 2. train (GPU utilisation sampled meanwhile) -------------------------------------------
monitor_pid=""
if [ "$DEVICE" = cuda ] && command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 250 > "$WORK/gpu.csv" &
  monitor_pid=$!
fi
say "train --device $DEVICE --preset $PRESET --epochs $EPOCHS"
t0=$(now)
kgjemb train --home "$HOME_DIR" --preset "$PRESET" --epochs "$EPOCHS" --device "$DEVICE" --no-progress > "$WORK/train.txt"
t1=$(now)
figure "train s ($EPOCHS epochs, $DEVICE)" "$(secs "$t0" "$t1")"
pairs() {  # trainer pairs/s on $1 (cpu|cuda)
  "$PY" "$REPO/scripts/bench_train.py" training --catalog "$CATALOG" --preset "$PRESET" --steps "$STEPS" \
    --threads "${THREADS:-$(nproc)}" --device "$1" > "$WORK/pairs-$1.txt"
  "$PY" -c 'import ast, sys
rows = [ast.literal_eval(l) for l in open(sys.argv[1]) if l.startswith("{") and "pairs_per_s_wall" in l]
print(rows[-1]["pairs_per_s_wall"] if rows else "n/a")' "$WORK/pairs-$1.txt"
}
figure "trainer pairs/s ($DEVICE)" "$(pairs "$DEVICE")"
if [ -n "$monitor_pid" ]; then
  kill "$monitor_pid" 2> /dev/null || true
  wait "$monitor_pid" 2> /dev/null || true
  figure "GPU utilisation while training (mean/max %)" \
    "$(awk -F', ' '{ s += $1; if ($1 > m) m = $1; n++ } END { if (n) printf "%.1f / %d (%d samples)", s / n, m, n; else print "no samples" }' "$WORK/gpu.csv")"
  figure "GPU memory used while training (max MiB)" "$(awk -F', ' '{ if ($2 > m) m = $2 } END { print m + 0 }' "$WORK/gpu.csv")"
elif [ "$DEVICE" = cuda ]; then
  figure "GPU utilisation" "nvidia-smi not found"
fi
[ "$CPU_TOO" = 1 ] && figure "trainer pairs/s (cpu)" "$(pairs cpu)"

# -- 3. index -------------------------------------------------------------------------------
say "index build --device $DEVICE"
t0=$(now); kgjemb index build --home "$HOME_DIR" --device "$DEVICE" --no-progress --format json > "$WORK/index.json"; t1=$(now)
figure "index build s ($DEVICE)" "$(secs "$t0" "$t1")"

# -- 4. search: one-shot wall time (a fresh process each) -----------------------------------
query="$("$PY" -c 'import sys, pandas as pd; from pathlib import Path
d = Path(sys.argv[1]); f = next(d.glob("artists.*"))
names = pd.read_csv(f)["name"] if f.suffix == ".csv" else pd.read_json(f, lines=True)["name"] if f.suffix == ".jsonl" else pd.read_parquet(f)["name"]
print(f"songs like {names.iloc[0]} but slow, not loud")' "$CATALOG")"
oneshot() {  # seconds for one `kgjemb search` process on $1
  local a b
  a=$(now); kgjemb search "$query" --home "$HOME_DIR" --device "$1" --format json > "$WORK/search-$1.json"; b=$(now)
  secs "$a" "$b"
}
say "search \"$query\""
oneshot "$DEVICE" > /dev/null  # first run may export the text path; the figure is the second
figure "kgjemb search one-shot wall s ($DEVICE)" "$(oneshot "$DEVICE")"
[ "$CPU_TOO" = 1 ] && figure "kgjemb search one-shot wall s (cpu)" "$(oneshot cpu)"
"$PY" -c 'import json, sys; hits = json.load(open(sys.argv[1]))["hits"]; print(len(hits), "hits; top:", hits[0]["title"])' \
  "$WORK/search-$DEVICE.json"

# -- 5. bench_query -------------------------------------------------------------------------
bench() {  # bench_query on $1; the per-type p50/p99 lines go to the summary
  "$PY" "$REPO/scripts/bench_query.py" --bundle "$HOME_DIR/bundle" --home "$HOME_DIR" --device "$1" \
    --synthetic "$SYNTH" --queries "$QUERIES" --batch 8 | tee "$WORK/bench-$1.txt"
  grep -E "engine.search  |text encoder alone|raw FAISS search alone|parser alone|x \(parser" "$WORK/bench-$1.txt" \
    | sed "s/^/[$1] /" >> "$SUMMARY"
}
say "bench_query --device $DEVICE --synthetic $SYNTH"
bench "$DEVICE"
if [ "$CPU_TOO" = 1 ]; then
  say "bench_query --device cpu --synthetic $SYNTH"
  bench cpu
fi

say "summary ($WORK)"
cat "$SUMMARY"
