#!/usr/bin/env bash
# The paper's pipeline with the `mousestop` command line, on a generated cohort.
# Usage: bash examples/pipeline_cli.sh OUT_DIR [CAGES] [HOURS] [EPOCHS]
set -euo pipefail
out=${1:?usage: pipeline_cli.sh OUT_DIR [CAGES] [HOURS] [EPOCHS]}
cages=${2:-6}
hours=${3:-3}
epochs=${4:-60}

mousestop synth "$out/data" --cages "$cages" --hours "$hours" --seed 0
mousestop stops "$out/data/cage01_juvenile.sqlite" -o "$out/stops.csv"
# one interval per 30 min: T = 2 * hours (the paper: --interval 1h --intervals 72)
mousestop dataset "$out/data/cohort.csv" -o "$out/dataset.npz" \
  --interval 30min --intervals $((2 * hours)) --bins 30 --workers 0
mousestop train "$out/dataset.npz" -o "$out/run" --epochs "$epochs" --seed 0 --permutations 200
mousestop explain "$out/run" -o "$out/maps" --permutations 200
mousestop predict "$out/run/model.pt" "$out/data/cage01_adult.sqlite" -o "$out/predictions.csv"
echo "results in $out: run/report.md, maps/*.png, predictions.csv"
