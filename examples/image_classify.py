"""Images through a model UDF that uses the GPU when one is visible, the CPU otherwise.

Shows a `@daft.cls` model in a Daft tensor pipeline: the job draws 32x32
images of three kinds (horizontal stripes, vertical stripes, checks) with
noise, and a small fixed-weight convolutional model (two edge filters and a
pooling rule) classifies them in batches. Each UDF worker runs on CUDA through
PyTorch when the job was given a GPU and PyTorch is installed, on NumPy
otherwise, and says which it used. There is one worker per GPU of the job,
and evd gives every worker its own device: with `--gpus 2` the two workers
report different `CUDA_VISIBLE_DEVICES` (Daft alone would show both devices
to both). Images travel as raw float32 bytes, as encoded images would: Daft
0.7.26 runs a UDF in the job's own process when its input is a tensor column,
and then no worker can have a device of its own.

    evd run examples/image_classify.py            # CPU: NumPy
    evd run --gpus 2 examples/image_classify.py   # GPUs: add "torch" to the env for CUDA
"""

import os

import daft
import numpy as np
from daft import DataType, col

from evd import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26", "numpy"])
env.environ["DAFT_PROGRESS_BAR"] = "0"
job = Job("image-classify", env, cpus=1, timeout="10m", description="a GPU-or-CPU model UDF")

KINDS = ["horizontal", "vertical", "checks"]
SIZE = 32
# The job's devices (evd sets CUDA_VISIBLE_DEVICES; empty for a CPU-only job).
VISIBLE = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]


def draw(count: int, seed: int = 3) -> tuple[list[np.ndarray], list[str]]:
    """``count`` noisy images and their kinds."""
    rng = np.random.default_rng(seed)
    rows, columns = np.indices((SIZE, SIZE))
    patterns = {
        "horizontal": (rows // 4) % 2,
        "vertical": (columns // 4) % 2,
        "checks": ((rows // 4) + (columns // 4)) % 2,
    }
    kinds = [KINDS[i] for i in rng.integers(0, len(KINDS), count)]
    images = [
        (patterns[kind] + rng.normal(0, 0.5, (SIZE, SIZE))).astype(np.float32) for kind in kinds
    ]
    return images, kinds


def _classify(horizontal: np.ndarray, vertical: np.ndarray) -> list[str]:
    """Stripes vary across one axis only; checks vary across both."""
    labels = []
    for h, v in zip(horizontal, vertical, strict=True):
        if min(h, v) > 0.75 * max(h, v):
            labels.append("checks")
        else:
            labels.append("horizontal" if v > h else "vertical")
    return labels


# One worker process per GPU (a process, so that each can see its own device).
@daft.cls(gpus=1 if VISIBLE else 0, max_concurrency=max(1, len(VISIBLE)), use_process=bool(VISIBLE))
class EdgeModel:
    """Edge energy across rows and across columns, then a pooling rule."""

    def __init__(self) -> None:
        self.device = "cpu (NumPy)"
        self.torch = None
        if os.environ.get("CUDA_VISIBLE_DEVICES"):
            try:
                import torch  # noqa: PLC0415  (optional: only where a GPU job installs it)

                if torch.cuda.is_available():
                    self.torch, self.device = torch, f"cuda ({torch.cuda.get_device_name(0)})"
            except ImportError:
                pass
        self.seen = os.environ.get("CUDA_VISIBLE_DEVICES", "")

    def energies(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean absolute change down the rows and along the columns of each image."""
        if self.torch is not None:
            images = self.torch.from_numpy(batch).cuda()
            down = (images[:, 1:, :] - images[:, :-1, :]).abs().mean(dim=(1, 2))
            along = (images[:, :, 1:] - images[:, :, :-1]).abs().mean(dim=(1, 2))
            return down.cpu().numpy(), along.cpu().numpy()
        down = np.abs(np.diff(batch, axis=1)).mean(axis=(1, 2))
        along = np.abs(np.diff(batch, axis=2)).mean(axis=(1, 2))
        return down, along

    @daft.method.batch(return_dtype=DataType.string())
    def __call__(self, images: daft.Series) -> list[str]:
        raw = images.to_pylist()
        batch = np.stack([np.frombuffer(b, dtype=np.float32).reshape(SIZE, SIZE) for b in raw])
        # Smooth the noise first: the average of each 2x2 block (a fixed convolution).
        batch = (
            batch[:, ::2, ::2] + batch[:, 1::2, ::2] + batch[:, ::2, 1::2] + batch[:, 1::2, 1::2]
        ) / 4
        down, along = self.energies(batch)
        return [f"{label}|{self.device}|{self.seen}" for label in _classify(along, down)]


@job.main()
def main(images: int = 3000) -> dict[str, object]:
    """Classify the images; report the accuracy and what each worker ran on."""
    pictures, kinds = draw(images)
    daft.set_execution_config(default_morsel_size=256)  # batches for every worker
    df = daft.from_pydict({"image": [picture.tobytes() for picture in pictures], "kind": kinds})
    out = df.with_column("answer", EdgeModel()(col("image"))).select("kind", "answer").to_pydict()
    labels = [answer.split("|")[0] for answer in out["answer"]]
    workers_seen = sorted({answer.split("|", 1)[1] for answer in out["answer"]})
    accuracy = sum(label == kind for label, kind in zip(labels, out["kind"], strict=True)) / images
    print(f"classified {images} images: {accuracy:.1%} right")
    for worker in workers_seen:
        device, visible = worker.split("|")
        print(f"  a worker ran on {device}; CUDA_VISIBLE_DEVICES={visible or '(none)'}")
    return {"accuracy": round(accuracy, 4), "workers": workers_seen}
