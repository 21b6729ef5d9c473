#!/bin/sh
# One part of the GPU check on a lent device machine (no network), from the repository root:
#   sh bench/gpu_device_run.sh bench    # every benchmark (carry .whl/core and .whl/av)
#   sh bench/gpu_device_run.sh tests    # the suite (carry .whl/core, .whl/imagecodecs and .gpudata)
#   sh bench/gpu_device_run.sh all      # both, where one call has the time
#   sh bench/gpu_device_run.sh train    # the training figures alone, eager and use_compile (carry .whl/core)
#   sh bench/gpu_device_run.sh train0   # eager training with upres's loader in-process (the GAN gap's lead)
#   sh bench/gpu_device_run.sh gan      # eager training and the GAN stage's variants (which one thing is the gap)
#   sh bench/gpu_device_run.sh next     # what the next lent session needs first: eager training in 3 alternating
#                                       # rounds and its profile (the weight copies of the fifth run's session),
#                                       # and `degrade_on: device` (loader_device); then `new`
#   sh bench/gpu_device_run.sh new      # the CUDA tests of what landed after the last GPU run (carry .whl/core)
# It installs the carried wheels (bench/gpu_wheels.py), puts the carried test data (.gpudata, made by
# `make gpu-data`) where the tests look for it (../shared/data), and writes the JSON, markdown, profile and logs
# under $OUT (the device tool's folder that comes back), else ./gpu-check-out. docs/benchmarks.md has the sequence.
# The compiled training runs use compile_mode reduce-overhead (inductor plus CUDA graphs, compiled without the
# minutes of max-autotune): the eager step is launch-bound, which CUDA graphs address.
set -u
part=${1:-all}
case $part in
    bench) args="--skip tests --compile-mode reduce-overhead" ;;
    train) args="--only train,train_compile --compile-mode reduce-overhead" ;;
    train0) args="--only train --train-workers 0" ;;
    gan) args="--only train,train_gan" ;;
    next) args="--only train,train_profile,loader_device --train-rounds 3" ;;
    new) args="" ;;
    tests) args="--only tests --workers 12 --tests-timeout 400" ;;
    all) args="--compile-mode reduce-overhead --workers 12" ;;
    *) echo "usage: sh bench/gpu_device_run.sh bench|tests|all|train|train0|gan|next|new" >&2; exit 2 ;;
esac
out=${OUT:-gpu-check-out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 bench/gpu_wheels.py install --dest .whl || exit 3
if [ -d .gpudata ]; then
    mkdir -p ../shared && rm -rf ../shared/data && cp -r .gpudata ../shared/data
fi
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv 2>/dev/null
if [ "$part" = new ]; then
    PYTHONPATH=src python3 -m pytest -v -rfEs -p no:cacheprovider tests/train/test_weight_copies.py \
        tests/degradations/test_otf_device.py tests/data/test_jpeg_torch.py tests/train/test_train_step.py \
        tests/train/test_device_training.py tests/degradations/test_pipeline.py tests/train/test_otf_device_train.py \
        >"$out/gpu-check-$part.log" 2>&1
else
    # shellcheck disable=SC2086  # args is a list of words
    PYTHONPATH=src python3 bench/gpu_check.py $args --out "$out/gpu-check-$part.json" >"$out/gpu-check-$part.log" 2>&1
fi
code=$?
tail -c 6000 "$out/gpu-check-$part.log"
exit $code
