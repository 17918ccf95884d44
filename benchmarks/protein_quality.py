"""Quality of a pretrained protein diffusion model against its family (default: the shipped GFP
model against the fluorescent avGFP variants it was trained on).

Reports, for `--n` samples:
- per-position amino-acid frequency correlation with the family (all 20 x L entries, and only the
  non-wild-type entries, which the wild type's dominance would otherwise hide);
- identity to the wild type: the family's range (min..max) and the share of samples inside it,
  mean substitutions per design for samples and family;
- uniqueness, novelty (not in the family table), sampling speed;
- with a landscape simulator: the share of samples it can score, and their predicted brightness.
Writes protein_quality.csv and protein_quality.png into --out.

    python benchmarks/protein_quality.py --n 500
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
LETTERS = "ACDEFGHIKLMNPQRSTVWY"


def frequencies(sequences: list[str], length: int) -> np.ndarray:
    """`length x 20` amino-acid frequencies per position."""
    codes = np.array([[LETTERS.index(a) for a in s] for s in sequences])
    table = np.zeros((length, 20))
    for position in range(length):
        table[position] = np.bincount(codes[:, position], minlength=20) / len(sequences)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "data/models/protein_gfp.pt")
    parser.add_argument(
        "--data", type=Path, default=ROOT / "data/protein/gfp/avgfp_variants_sequences.csv.gz"
    )
    parser.add_argument("--where", default="medianBrightness>=2.5", help="the family's rows")
    parser.add_argument("--wild-type", type=Path, default=ROOT / "data/protein/gfp/avGFP_wt.fasta")
    parser.add_argument(
        "--simulator", type=Path, default=ROOT / "data/models/gfp_brightness_simulator.npz"
    )
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args()

    import pandas as pd

    from molseiko.diffusion.checkpoint import load_model
    from molseiko.diffusion.training import read_sequences
    from molseiko.domains.protein import canonical_sequence, read_fasta

    family = [
        s for _, s in read_sequences(args.data, args.where) if canonical_sequence(s) is not None
    ]
    every = {s for _, s in read_sequences(args.data)}
    wild = read_fasta(args.wild_type)[0][1]
    length = len(wild)

    model = load_model(args.model)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    trajectory = model.sample(args.n, args.steps, generator)
    seconds = time.perf_counter() - started
    samples = [s for s in model.decode(trajectory) if s is not None]
    right_length = [s for s in samples if len(s) == length]

    def identity(s: str) -> float:
        return float(np.mean([a == b for a, b in zip(s, wild, strict=True)]))

    family_identity = np.array([identity(s) for s in family])
    sample_identity = np.array([identity(s) for s in right_length])
    low, high = family_identity.min(), family_identity.max()
    f_family, f_samples = frequencies(family, length), frequencies(right_length, length)
    off_wild = np.ones((length, 20), dtype=bool)
    off_wild[np.arange(length), [LETTERS.index(a) for a in wild]] = False
    row = {
        "model": args.model.name,
        "samples": args.n,
        "steps": args.steps,
        "sequences_per_s": args.n / seconds,
        "right_length": len(right_length) / args.n,
        "unique": len(set(samples)) / max(1, len(samples)),
        "novel": float(np.mean([s not in every for s in samples])),
        "freq_corr_all": float(np.corrcoef(f_family.ravel(), f_samples.ravel())[0, 1]),
        "freq_corr_substitutions": float(
            np.corrcoef(f_family[off_wild], f_samples[off_wild])[0, 1]
        ),
        "family_identity_min": float(low),
        "family_identity_max": float(high),
        "in_identity_range": float(np.mean((sample_identity >= low) & (sample_identity <= high))),
        "substitutions_family": float(np.mean((1 - family_identity) * length)),
        "substitutions_samples": float(np.mean((1 - sample_identity) * length)),
    }
    if args.simulator and args.simulator.is_file():
        from molseiko.oracles.landscape import LandscapeSimulator, SimulatorOracle

        result = SimulatorOracle(LandscapeSimulator.load(args.simulator))(samples)
        scored = result.raw[np.isfinite(result.raw)]
        row.update(
            simulator_in_domain=float(np.isfinite(result.raw).mean()),
            simulator_brightness_mean=float(scored.mean()) if len(scored) else float("nan"),
            simulator_fluorescent_share=float((scored >= 2.5).mean()) if len(scored) else 0.0,
        )
    for key, value in row.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    args.out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(args.out / "protein_quality.csv", index=False)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.scatter(f_family[off_wild], f_samples[off_wild], s=4, alpha=0.5)
    top = max(f_family[off_wild].max(), f_samples[off_wild].max())
    left.plot([0, top], [0, top], color="grey", lw=0.8)
    left.set_xlabel("substitution frequency, family")
    left.set_ylabel("substitution frequency, samples")
    left.set_title(f"r = {row['freq_corr_substitutions']:.2f}")
    bins = np.arange(0, 20) - 0.5
    right.hist((1 - family_identity) * length, bins=bins, density=True, alpha=0.6, label="family")
    right.hist((1 - sample_identity) * length, bins=bins, density=True, alpha=0.6, label="samples")
    right.set_xlabel("substitutions from the wild type")
    right.legend()
    fig.tight_layout()
    fig.savefig(args.out / "protein_quality.png", dpi=110)


if __name__ == "__main__":
    main()
