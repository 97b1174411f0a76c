"""Training throughput of the book's SAXS network in Keras/TensorFlow: the peer of skip_dae.

    bench/peer/.venv/bin/python bench/peer/keras_saxs.py [--steps 10] [--warmup 3] [--threads 2]

Runs with the peer venv's python (``make bench-peer-env``), never in aeflow's venv: TensorFlow
and torch do not share a process. The network of "Deep Learning for Physics Research",
Exercise 17.1 (3x3 convolutions, ``same`` padding, ReLU except the two linear output layers):

    Conv32, Conv32 (=c1), MaxPool, Conv64, Conv64 (=c2), MaxPool, Conv64,
    UpSample, Conv64, Conv64, + c2, UpSample, Conv32, Conv32, + c1, Conv32 (linear), Conv1 (linear)

213,025 parameters, Adam 1e-3, MSE, batch 128, trained on random float32 images
(N, 64, 64, 1) with ``train_on_batch``: the compiled ``tf.function`` train step that
``model.fit`` runs, with Keras's default ``jit_compile`` ("auto": no XLA on a CPU), minus
fit's data pipeline; ``--mode fit`` times the steps of ``model.fit`` itself instead (a
callback around each batch). Batches are made before the clock starts. The last line printed
is one JSON object: samples_per_s (batch over the median step time after the warm-up),
parameters, tensorflow and keras versions, threads.

Nothing here imports TensorFlow at module level, so aeflow's unit tests can check the
argument parser without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

PARAMETERS = 213_025  # the book's count


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=64, help="image side, a multiple of 4")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="TensorFlow intra-op threads (default: TensorFlow's choice)",
    )
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=None,
        help="TensorFlow inter-op threads (default: --threads when given)",
    )
    parser.add_argument("--mode", choices=["train_on_batch", "fit"], default="train_on_batch")
    parser.add_argument(
        "--dtype-policy",
        default="float32",
        help="Keras dtype policy; the book's is float32 (e.g. mixed_bfloat16 to compare bf16)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1:
        parser.error("--steps and --batch-size must be >= 1, --warmup >= 0")
    if args.size % 4:
        parser.error(f"--size must be a multiple of 4 (two 2x2 poolings), got {args.size}")
    if args.inter_op_threads is None:
        args.inter_op_threads = args.threads
    return args


def build_model(keras, size: int = 64):
    """The SAXS denoising autoencoder with skip connections, as a Keras functional model."""
    layers = keras.layers

    def conv(filters: int, activation: str | None = "relu"):
        return layers.Conv2D(filters, 3, padding="same", activation=activation)

    x_in = keras.Input((size, size, 1))
    c1 = conv(32)(conv(32)(x_in))
    c2 = conv(64)(conv(64)(layers.MaxPooling2D(2)(c1)))
    h = conv(64)(layers.MaxPooling2D(2)(c2))
    h = conv(64)(conv(64)(layers.UpSampling2D(2)(h)))
    h = layers.Add()([h, c2])
    h = conv(32)(conv(32)(layers.UpSampling2D(2)(h)))
    h = layers.Add()([h, c1])
    x_out = conv(1, None)(conv(32, None)(h))
    return keras.Model(x_in, x_out, name="saxs_skip_dae")


def step_times(model, keras, batches, args) -> list[float]:
    """Seconds of each training step after the warm-up."""
    n_steps = args.warmup + args.steps
    times: list[float] = []
    if args.mode == "train_on_batch":
        for i in range(n_steps):
            x, y = batches[i % len(batches)]
            t0 = time.perf_counter()
            model.train_on_batch(x, y)  # returns Python floats: the step has finished
            times.append(time.perf_counter() - t0)
    else:

        class StepTimer(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                if logs and "loss" in logs:
                    float(logs["loss"])  # wait for the step's result
                times.append(time.perf_counter() - self.t0)

        import numpy as np

        x = np.concatenate([np.asarray(b[0]) for b in batches])
        y = np.concatenate([np.asarray(b[1]) for b in batches])
        model.fit(
            x,
            y,
            batch_size=args.batch_size,
            epochs=1,
            shuffle=True,
            verbose=0,
            callbacks=[StepTimer()],
        )
    return times[args.warmup :]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    # Thread pools are fixed when the runtime starts: before any op runs.
    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    if args.inter_op_threads is not None:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    tf.config.set_visible_devices([], "GPU")  # the CPU, like the CPU torch side
    keras.config.set_dtype_policy(args.dtype_policy)
    keras.utils.set_random_seed(args.seed)

    model = build_model(keras, args.size)
    parameters = model.count_params()
    if parameters != PARAMETERS:
        raise SystemExit(f"Keras SAXS model has {parameters} parameters, expected {PARAMETERS}")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

    rng = np.random.default_rng(args.seed)
    shape = (args.batch_size, args.size, args.size, 1)
    n_batches = args.warmup + args.steps
    batches = [
        (
            tf.constant(rng.random(shape, dtype=np.float32)),
            tf.constant(rng.random(shape, dtype=np.float32)),
        )
        for _ in range(n_batches)
    ]
    times = step_times(model, keras, batches, args)
    per_step = statistics.median(times)
    result = {
        "framework": "keras",
        "mode": args.mode,
        "samples_per_s": round(args.batch_size / per_step, 2),
        "parameters": parameters,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "threads": args.threads,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "jit_compile": bool(model.jit_compile),
        "dtype_policy": keras.config.dtype_policy().name,
        "batch_size": args.batch_size,
        "sample_shape": [args.size, args.size, 1],
        "steps": len(times),
    }
    print(
        f"keras saxs: {result['samples_per_s']} samples/s "
        f"(tensorflow {result['tensorflow']}, {args.mode})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
