"""Sample quality and sampling speed of a pretrained diffusion checkpoint (SELFIES or graph).

Writes `{tag}model_quality.csv` (generated samples vs the floor: a random training subset, both
against the ZINC250k test split), `{tag}sampling_speed.csv`, `{tag}model_quality.png` (descriptor
histograms) and `{tag}training_curve.png` into --out. The tag is "" for the SELFIES model and
"graph_" for a graph model, whose comparison drops stereochemistry (it does not generate any) and
which also reports validity without its valence masks and with fragments allowed.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from molseiko.diffusion.checkpoint import DEFAULT_MODEL, load_model
from molseiko.diffusion.graph import GraphDiffusion
from molseiko.domains.molecule import canonical_smiles
from molseiko.domains.properties import PROPERTY_NAMES
from molseiko.evaluation import load_reference, property_table, sample_quality

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sampling_speed(model, n: int, steps_list: list[int], seed: int) -> list[dict]:
    rows = []
    for steps in steps_list:
        generator = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        trajectory = model.sample(n, steps, generator)  # the CLI's length-sorted chunks of 256
        sample_seconds = time.perf_counter() - start
        start = time.perf_counter()
        smiles = model.decode(trajectory)
        decode_seconds = time.perf_counter() - start
        rows.append(
            {
                "batch": n,
                "steps": steps,
                "threads": torch.get_num_threads(),
                "sample_seconds": round(sample_seconds, 2),
                "decode_seconds": round(decode_seconds, 2),
                "molecules_per_second": round(n / (sample_seconds + decode_seconds), 1),
                "validity": sum(s is not None for s in smiles) / n,
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=ROOT / "data/zinc250k/zinc250k.csv.gz")
    parser.add_argument(
        "--test-idx", type=Path, default=ROOT / "data/zinc250k/valid_idx_zinc250k.json"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument(
        "--ablation-n",
        type=int,
        default=2000,
        help="graph models: samples per ablated mask setting",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    model = load_model(args.model)
    graph = isinstance(model, GraphDiffusion)
    tag = "graph_" if graph else ""
    rss_before = peak_rss_mb()
    speed = pd.DataFrame(sampling_speed(model, 1000, [16, 32], args.seed))
    speed["rss_before_mb"] = round(rss_before, 1)
    speed.to_csv(args.out / f"{tag}sampling_speed.csv", index=False)

    reference = load_reference(args.data, args.test_idx, stereo=model.stereochemistry)
    test, train = reference.test, reference.train

    generator = torch.Generator().manual_seed(args.seed + 1)
    start = time.perf_counter()
    trajectory = model.sample(args.n, args.steps, generator)
    generated = model.decode(trajectory)
    print(f"sampled {args.n} in {time.perf_counter() - start:.0f} s", flush=True)
    extra = []
    if graph:
        extra = validity_ablation(model, trajectory, args.ablation_n, args.steps, args.seed)
    rng = np.random.default_rng(args.seed)
    floor = [canonical_smiles(train[i]) for i in rng.choice(len(train), args.n, replace=False)]

    rows = []
    for name, designs in [("model", generated), ("train_subset_floor", floor)]:
        training = reference.training_keys if name == "model" else None
        quality = sample_quality(designs, test, training, reference.test_properties)
        rows.append(
            {"set": name, "steps": args.steps if name == "model" else 0, **quality.as_row()}
        )
        print(rows[-1], flush=True)
    rows.extend(extra)
    pd.DataFrame(rows).to_csv(args.out / f"{tag}model_quality.csv", index=False)
    pd.DataFrame({"smiles": [s or "" for s in generated]}).to_csv(
        args.out / f"{tag}samples.csv.gz", index=False
    )
    plot(generated, floor, reference.test_properties, args.out / f"{tag}model_quality.png")
    curve = args.model.with_name(args.model.stem + ".curve.csv")
    if curve.is_file():
        plot_curve(pd.read_csv(curve), args.out / f"{tag}training_curve.png")


def validity_ablation(model, trajectory, n: int, steps: int, seed: int) -> list[dict]:
    """Validity of graph samples under each masking setting (valence limits and connectivity
    rule, valence limits only, neither), strict (one sanitizable fragment) and with fragments
    allowed; rows for the quality table. `trajectory` is the default setting's sample."""
    rows = []
    settings = {
        "valence_and_connectivity_masks": (True, True),
        "valence_masks_only": (True, False),
        "no_masks": (False, False),
    }
    for name, (valence, connect) in settings.items():
        if (valence, connect) == (True, True):
            sample = trajectory
        else:
            model.valence_mask, model.connect_mask = valence, connect
            sample = model.sample(n, steps, torch.Generator().manual_seed(seed + 2))
            model.valence_mask, model.connect_mask = True, True
        graphs = model.graphs(sample)
        strict = sum(model.tokenizer.to_design(g) is not None for g in graphs) / len(graphs)
        loose = sum(model.tokenizer.to_design(g, connected=False) is not None for g in graphs)
        rows.append(
            {
                "set": name,
                "steps": steps,
                "n": len(graphs),
                "validity": strict,
                "validity_fragments_allowed": loose / len(graphs),
            }
        )
        print(rows[-1], flush=True)
    return rows


def plot(generated, floor, test_properties, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generated_properties = property_table([s for s in generated if s is not None])
    floor_properties = property_table(floor)
    fig, axes = plt.subplots(1, len(PROPERTY_NAMES), figsize=(4 * len(PROPERTY_NAMES), 3.2))
    for axis, name in zip(axes, PROPERTY_NAMES, strict=True):
        values = [test_properties[name], floor_properties[name], generated_properties[name]]
        bins = np.histogram_bin_edges(np.concatenate(values), bins=40)
        for data, label in zip(values, ["ZINC test", "train subset", "model"], strict=True):
            axis.hist(data, bins=bins, density=True, histtype="step", label=label)
        axis.set_title(name)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_curve(curve: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(curve.minutes, curve.train_loss, label="train (running mean)")
    axis.plot(curve.minutes, curve.valid_loss, label="held-out (EMA weights)")
    axis.set_xlabel("minutes on 2 CPU cores")
    axis.set_ylabel("negative ELBO, nats / token (graph model: / atom)")
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
