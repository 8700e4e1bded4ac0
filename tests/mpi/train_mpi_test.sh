#!/usr/bin/env bash
# Data-parallel `anycost train` under MPI on loopback (registered by tests/mpi/CMakeLists.txt, label mpi):
#
#   train_mpi_test.sh equal ANYCOST TOOL WORKDIR MPIRUN [MPIRUN FLAGS...]
#     14 iterations of a tiny model through all three stages (R1, path length, distillation, sub-networks):
#     one process vs `mpirun -np 2` with the same global batch. With Adam's eps at 1e-4 the final generator
#     (g_ema) and discriminator agree within 2e-6 (float rounding: weights up to ~300 and ~4.5); with the
#     default eps 1e-8 within 1e-2 only, because Adam divides by sqrt(v) + eps and so turns the rounding
#     differences of gradients near zero into steps of up to lr, which the GAN's dynamics then carry along
#     (the max abs differences are printed). Two 2-rank runs are bit-identical.
#   train_mpi_test.sh kill ANYCOST TOOL WORKDIR MPIRUN [MPIRUN FLAGS...]
#     a 2-rank run of 120 iterations whose rank 1 is killed with SIGKILL once checkpoint 20 exists: mpirun ends the job within
#     60 s with a non-zero status and a message naming the dead rank; `mpirun ... --resume` finishes from the
#     last checkpoint with the same files, byte for byte, as an uninterrupted 2-rank run.
#
# TOOL is mpi_train_tool (images, diff). Every rank runs with --threads 1. MPIRUN FLAGS: e.g.
# --allow-run-as-root --oversubscribe (CI runs as root on 2 cores).
set -euo pipefail
mode=$1 anycost=$2 tool=$3 work=$4 mpirun=$5
shift 5
mpiflags=("$@")
tol=${ANYCOST_MPI_TOL:-2e-6}
tol_eps8=${ANYCOST_MPI_TOL_EPS8:-1e-2}

rm -rf "$work"
mkdir -p "$work"
"$tool" images "$work/data" 24 16 9
cat > "$work/run.json" <<'JSON'
{
  "generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channels": [32, 32, 16]},
  "discriminator": {"channels": [32, 32, 16]},
  "steps": {"1": 6, "2": 3, "3": 5}, "batch": 8, "seed": 11,
  "r1": {"interval": 2}, "path_length": {"interval": 2}, "multi_res": {"n_res": 2},
  "channels": {"sort_samples": 64}, "checkpoint": {"every": 2, "keep": 3}, "samples": {"every": 100, "n": 2},
  "log": {"every_seconds": 0}, "data": {"workers": 1}
}
JSON
sed 's/"seed": 11,/"seed": 11, "optimizer": {"eps": 1e-4},/' "$work/run.json" > "$work/run_eps4.json"
grep -q '"eps": 1e-4' "$work/run_eps4.json"

train() {  # train OUT LOG [extra args]: one process
  local out=$1 log=$2
  shift 2
  "$anycost" train --config "${config:-$work/run.json}" --data "$work/data" --out "$out" --threads 1 "$@" > "$log" 2>&1
}
train2() {  # train2 OUT LOG [extra args]: 2 ranks
  local out=$1 log=$2
  shift 2
  "$mpirun" "${mpiflags[@]}" -np 2 "$anycost" train --config "${config:-$work/run.json}" --data "$work/data" \
    --out "$out" --threads 1 "$@" > "$log" 2>&1
}
fail() {
  echo "FAILED: $*"
  exit 1
}

case $mode in
equal)
  train "$work/one" "$work/one.log" --distributed none || { cat "$work/one.log"; fail "single-process run"; }
  train2 "$work/two_a" "$work/two_a.log" || { cat "$work/two_a.log"; fail "2-rank run"; }
  train2 "$work/two_b" "$work/two_b.log" || { cat "$work/two_b.log"; fail "second 2-rank run"; }
  grep -q "data-parallel: MPI, 2 ranks, global batch 8 = 2 x 4" "$work/two_a.log" ||
    { cat "$work/two_a.log"; fail "the 2-rank log does not announce the ranks"; }
  [ "$(grep -c '^done:' "$work/two_a.log")" = 1 ] || { cat "$work/two_a.log"; fail "rank 0 alone should log"; }
  config=$work/run_eps4.json train "$work/one4" "$work/one4.log" --distributed none ||
    { cat "$work/one4.log"; fail "single-process run, eps 1e-4"; }
  config=$work/run_eps4.json train2 "$work/two4" "$work/two4.log" || { cat "$work/two4.log"; fail "2-rank run, eps 1e-4"; }
  for f in generator discriminator; do
    echo "$f, 1 process vs 2 ranks, Adam eps 1e-4:"
    "$tool" diff "$work/one4/$f.safetensors" "$work/two4/$f.safetensors" "$tol" || fail "$f beyond tolerance $tol"
    echo "$f, 1 process vs 2 ranks, Adam eps 1e-8 (default):"
    "$tool" diff "$work/one/$f.safetensors" "$work/two_a/$f.safetensors" "$tol_eps8" ||
      fail "$f beyond tolerance $tol_eps8"
    cmp "$work/two_a/$f.safetensors" "$work/two_b/$f.safetensors" || fail "two 2-rank runs differ in $f"
    echo "$f: two 2-rank runs are bit-identical"
  done
  # Refusals end every rank with the message (MPI_Abort): a per-rank batch that breaks the stddev groups, and
  # (found on rank 0 alone) an output folder that holds a run already.
  sed 's/"batch": 8/"batch": 4/' "$work/run.json" > "$work/batch4.json"
  if timeout 60 "$mpirun" "${mpiflags[@]}" -np 2 "$anycost" train --config "$work/batch4.json" --data "$work/data" \
      --out "$work/b4" --threads 1 > "$work/b4.log" 2>&1; then
    fail "batch 4 over 2 ranks was accepted"
  fi
  grep -q "not a multiple of 4, the discriminator's minibatch-stddev group" "$work/b4.log" ||
    { cat "$work/b4.log"; fail "no message for batch 4 over 2 ranks"; }
  echo "batch 4 over 2 ranks: refused ($(grep -m1 -o 'the batch 4 over 2 ranks[^(]*' "$work/b4.log"))"
  if timeout 60 "$mpirun" "${mpiflags[@]}" -np 2 "$anycost" train --config "$work/run.json" --data "$work/data" \
      --out "$work/two_a" --threads 1 > "$work/again.log" 2>&1; then
    fail "a second run into the same folder was accepted"
  fi
  grep -q "already holds a run" "$work/again.log" || { cat "$work/again.log"; fail "no message for an existing run"; }
  echo "existing run folder: refused on every rank"
  for it in 1 14; do  # the logged losses of both runs (rank 0 prints the means over the ranks)
    a=$(grep "iter $it/14 " "$work/one.log" | sed 's/.*img\/s | ETA [^|]*| //')
    b=$(grep "iter $it/14 " "$work/two_a.log" | sed 's/.*img\/s | ETA [^|]*| //')
    echo "iteration $it losses: 1 process: $a; 2 ranks: $b"
  done
  ;;
kill)
  sed 's/"steps": {[^}]*}/"steps": {"1": 60, "2": 20, "3": 40}/' "$work/run.json" > "$work/long.json"
  export config=$work/long.json
  train2 "$work/ref" "$work/ref.log" || { cat "$work/ref.log"; fail "uninterrupted 2-rank run"; }
  "$mpirun" "${mpiflags[@]}" -np 2 "$anycost" train --config "$config" --data "$work/data" \
    --out "$work/run" --threads 1 > "$work/killed.log" 2>&1 &
  job=$!
  ckpt=$work/run/checkpoints/ckpt-000000020.safetensors
  for _ in $(seq 6000); do  # up to 120 s for the checkpoint of iteration 20
    [ -e "$ckpt" ] && break
    kill -0 $job 2> /dev/null || { cat "$work/killed.log"; fail "the run ended before it was killed"; }
    sleep 0.02
  done
  [ -e "$ckpt" ] || fail "no checkpoint 20 within 120 s"
  ranks=($(pgrep -P $job))
  [ ${#ranks[@]} = 2 ] || fail "expected 2 rank processes under mpirun $job, found: ${ranks[*]:-none}"
  victim=$(for p in "${ranks[@]}"; do grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ && echo $p; done)
  [ -n "$victim" ] || fail "rank 1 not found"
  kill -KILL "$victim"
  echo "killed rank 1 (pid $victim)"
  start=$(date +%s)
  for _ in $(seq 600); do kill -0 $job 2> /dev/null || break; sleep 0.1; done
  if kill -0 $job 2> /dev/null; then
    kill -KILL $job
    cat "$work/killed.log"
    fail "mpirun still running 60 s after a rank died (a hang)"
  fi
  status=0
  wait $job || status=$?
  echo "mpirun ended $(($(date +%s) - start)) s after the kill with status $status"
  cat "$work/killed.log" | tail -15
  [ $status != 0 ] || fail "the job succeeded although a rank was killed"
  [ ! -e "$work/run/generator.safetensors" ] || fail "the killed run wrote its final files"
  grep -Eqi "signal 9|killed|exited on signal" "$work/killed.log" || fail "no message about the dead rank"
  train2 "$work/run" "$work/resumed.log" --resume || { cat "$work/resumed.log"; fail "resume under mpirun"; }
  grep "resumed from" "$work/resumed.log" || fail "the resumed run does not say where it resumed from"
  for f in generator discriminator; do
    cmp "$work/ref/$f.safetensors" "$work/run/$f.safetensors" || fail "resumed $f differs from the uninterrupted run"
    echo "$f: resumed run is bit-identical to the uninterrupted 2-rank run"
  done
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "passed"
