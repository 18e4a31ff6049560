set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .exp/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax EXP_OUT=/tmp/exp_out PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
cd .exp; mkdir -p /tmp/exp_out /tmp/exp_models; cp mild.keras /tmp/exp_models/
nvidia-smi -L; nproc
[ -f redrawn.npz ] || time python3 make_redrawn.py || exit 1
BASE="${BASE:-}"
for a in $BASE; do python3 compare_methods.py baseline $a > /tmp/exp_out/b_$a.log 2>&1 & done; wait
cat /tmp/exp_out/*.json > $OUT/baselines.jsonl; tail -n 3 /tmp/exp_out/b_*.log > $OUT/baseline_logs.txt
python3 compare_methods.py parent mild
FTS="${FTS:-full_aug_3e4 full_aug_1e4_2 r24_aug aug_lr1e4 aug_soft aug_rep11 lwf8_aug aug_ep2 aug_thick}"
for a in $FTS; do python3 compare_methods.py finetune $a mild > /tmp/exp_out/f_$a.log 2>&1 & done; wait
cat /tmp/exp_out/ft_*.json > $OUT/finetunes.jsonl; tail -n 5 /tmp/exp_out/f_*.log > $OUT/ft_logs.txt

python3 - <<'PY'
import json,glob
for f in sorted(glob.glob('/tmp/exp_out/*.json')):
    r=json.load(open(f)); r.pop('wise',None); r.pop('cfg',None); print(json.dumps(r))
PY
