"""Feature extraction throughput and neighbour agreement on the shared ImageNet photos.

    MINICNN_DATA=../shared/data python benchmarks/bench_features.py            # everything
    python benchmarks/bench_features.py --only throughput --limit 200 --repeat 3
    python benchmarks/bench_features.py --only agreement

throughput: images per second, end to end (decode, resize 256, centre crop 224,
forward to fire9, global average pool), batch 16, two threads, for

  - minicnn, n_jobs=1 (one process, 2 BLAS threads), cache off
  - minicnn, n_jobs=2 (two joblib workers x 1 BLAS thread), cache off
  - minicnn with a warm feature cache
  - the same pipeline with PyTorch doing the forward pass (SqueezeNet 1.1 built in
    torch from ``cnn.params`` by benchmarks/common.py; no torchvision),
    torch.set_num_threads(2)

agreement: the photos of the nine restricted-ImageNet groups (203 photos); for
k = 5, the fraction of each photo's neighbours (among the others) in the same
group, for the 1000 scores, pooled fire9, flattened fire9 and 32x32 pixels.
Timings are medians of ``--repeat`` runs.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import minicnn  # noqa: E402
from minicnn.data import imagenet_sample  # noqa: E402
from minicnn.techniques.features import (extract_features, nearest_neighbors,  # noqa: E402
                                         neighbor_agreement, pixel_features,
                                         restricted_imagenet_group, load_batch)


def torch_pipeline(cnn, paths, batch_size, model):
    """Decode + preprocess exactly as minicnn, forward with torch to pooled fire9
    (``model``: a ``common.TorchSqueezeNet``)."""
    import torch
    feats = []
    with torch.no_grad():
        for i in range(0, len(paths), batch_size):
            x, _ = load_batch(cnn, paths[i:i + batch_size])
            f = model.forward(torch.from_numpy(np.ascontiguousarray(x, np.float32)), "fire9")
            feats.append(f.mean(dim=(2, 3)).numpy())
    return np.concatenate(feats)


def median_time(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def throughput(cnn, paths, batch_size, repeat):
    n = len(paths)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-features-"))

    t1, f1 = median_time(lambda: extract_features(cnn, paths, "fire9", batch_size=batch_size,
                                                  cache=False), repeat)
    rows.append(("minicnn n_jobs=1 (2 threads)", t1))
    t2, f2 = median_time(lambda: extract_features(cnn, paths, "fire9", batch_size=batch_size,
                                                  n_jobs=2, cache=False), repeat)
    rows.append(("minicnn n_jobs=2 (2 x 1 thread)", t2))
    extract_features(cnn, paths, "fire9", batch_size=batch_size, n_jobs=2, cache_dir=tmp)
    t3, f3 = median_time(lambda: extract_features(cnn, paths, "fire9", batch_size=batch_size,
                                                  cache_dir=tmp), max(repeat, 3))
    rows.append(("minicnn warm cache", t3))
    try:
        import torch
        from common import TorchSqueezeNet
        torch.set_num_threads(2)
        model = TorchSqueezeNet(cnn)
        t4, f4 = median_time(lambda: torch_pipeline(cnn, paths, batch_size, model), repeat)
        rows.append((f"PyTorch {torch.__version__} forward, same pipeline (2 threads)", t4))
        x, _ = load_batch(cnn, paths[:8])
        with torch.no_grad():
            t5, _ = median_time(lambda: model.forward(torch.from_numpy(x), "fire9"), 3)
        print(f"PyTorch forward alone: {1000 * t5 / 8:.1f} ms/image at batch 8; "
              f"max |feature difference| vs minicnn: {np.abs(f4 - f1).max():.2e}")
    except ImportError:
        print("PyTorch not installed: peer comparison skipped (pip install torch)")
    assert np.allclose(f1, f2, rtol=1e-4, atol=1e-4) and np.array_equal(f2, f3)
    print(f"\nfeature extraction of {n} photos (pooled fire9, batch {batch_size}), "
          f"median of {repeat}:")
    for name, t in rows:
        print(f"  {name:<58s} {n / t:8.1f} images/s   ({t:.2f} s)")
    return rows


def agreement(cnn, batch_size, n_jobs):
    paths, labels = imagenet_sample()
    groups = restricted_imagenet_group(labels)
    keep = groups >= 0
    paths = [p for p, k in zip(paths, keep) if k]
    groups = groups[keep]
    print(f"{len(paths)} photos in the nine restricted-ImageNet groups")
    flat = extract_features(cnn, paths, "fire9", pool="none", batch_size=batch_size,
                            n_jobs=n_jobs, progress=True)
    fmap = flat.reshape(len(flat), 512, 13, 13)
    scores, _ = cnn.forward(np.ascontiguousarray(fmap), start="conv10")
    spaces = {"1000 scores": scores, "pooled fire9 (512)": fmap.mean(axis=(2, 3)),
              "flattened fire9 (86528)": flat, "32x32 pixels": pixel_features(paths, 32)}
    print("k=5 neighbours sharing the photo's group:")
    out = {}
    for name, f in spaces.items():
        _, idx = nearest_neighbors(f, np.arange(len(f)), k=5, exclude_self=True)
        out[name] = neighbor_agreement(groups, idx)
        print(f"  {name:<26s} {out[name]:.2f}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", choices=("throughput", "agreement"), default=None)
    p.add_argument("--limit", type=int, default=1000, help="photos for the throughput runs")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args(argv)
    cnn = minicnn.load_squeezenet()
    print(f"cpu count {os.cpu_count()}; minicnn {minicnn.__version__}")
    if args.only in (None, "agreement"):
        agreement(cnn, args.batch_size, n_jobs=2)
    if args.only in (None, "throughput"):
        paths, _ = imagenet_sample(limit=args.limit)
        throughput(cnn, paths, args.batch_size, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
