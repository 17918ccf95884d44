"""ESM-2 zero-shot scores through fair-esm (optional: `pip install fair-esm`), from local weights.

Two standard scores relative to a wild type w (higher = more native-like under the model):
- `masked_marginal` (Meier et al. 2021, as fair-esm's variant-prediction script computes it):
  for a substitution variant x of w,
      sum over mutated positions i of  log p(x_i | w, i masked) - log p(w_i | w, i masked),
  each position masked on its own in the wild type. Additive over mutations (exact for single
  mutants; the paper's joint masking of all mutated sites would add epistasis). The wild type's
  masked marginals are computed once, so a variant costs a table lookup. Other lengths fail.
- `pll`: pseudo-log-likelihood PLL(x) - PLL(w), PLL(x) = sum_i log p(x_i | x, i masked); any
  length, one masked pass per position of each design (costly on CPU for long sequences).

Weights come from a local file the user gives (e.g. `esm2_t6_8M_UR50D.pt`, the name must start
with `esm2`); nothing is downloaded. A contact-regression file is not needed for scoring.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from molseiko.domains.protein import canonical_sequence, check_sequence
from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle

MODES = ("masked_marginal", "pll")


def load_esm(path: str | Path):
    """(model in eval mode, alphabet) from a local ESM-2 checkpoint, with a one-line error for a
    missing file or package. torch >= 2.6 loads weights only, so ESM's pickled argparse
    Namespace is allow-listed instead of loading arbitrary objects."""
    path = Path(path).expanduser()
    if not path.is_file():
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        raise MolseikoError(
            f"ESM weights {path} not found: download e.g. esm2_t6_8M_UR50D.pt from the fair-esm "
            f"release page and give its path (or put it in {hub})"
        )
    if not path.name.startswith("esm2"):
        raise MolseikoError(f"{path.name}: an ESM-2 checkpoint's file name starts with 'esm2'")
    try:
        import esm
    except ImportError:
        raise MolseikoError("ESM scores need fair-esm: pip install fair-esm") from None
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        model, alphabet = esm.pretrained.load_model_and_alphabet_core(path.stem, data, None)
    except Exception as err:
        raise MolseikoError(f"{path}: not a readable ESM-2 checkpoint ({err})") from None
    return model.eval(), alphabet


class ESMOracle(Oracle):
    cost = "moderate"

    def __init__(
        self,
        weights: str | Path,
        wild_type: str,
        mode: str = "masked_marginal",
        device: str = "cpu",
        batch_size: int = 16,
        name: str | None = None,
    ):
        if mode not in MODES:
            raise MolseikoError(f"esm: mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.wild_type = check_sequence(wild_type, "wild type")
        self.mode, self.device, self.batch_size = mode, torch.device(device), batch_size
        self.model, self.alphabet = load_esm(weights)
        self.model.to(self.device)
        self.name = name or f"esm_{mode}"
        self.description = (
            f"ESM-2 {mode.replace('_', ' ')} relative to a {len(wild_type)}-aa wild type"
        )
        self._columns = [self.alphabet.get_idx(a) for a in "ACDEFGHIKLMNPQRSTVWY"]
        self._wild_marginals: np.ndarray | None = None
        self._wild_pll: float | None = None

    # ---- model passes ----------------------------------------------------------------------------
    def _tokens(self, sequence: str) -> torch.Tensor:
        ids = [self.alphabet.get_idx(a) for a in sequence]
        return torch.tensor([self.alphabet.cls_idx, *ids, self.alphabet.eos_idx])

    @torch.no_grad()
    def masked_log_probs(self, sequence: str) -> np.ndarray:
        """`L x 20`: log p(a | sequence with position i masked) for the 20 amino acids
        (alphabetical), one masked copy per position; normalized over ESM's whole vocabulary,
        as in fair-esm's own pseudo-perplexity."""
        base = self._tokens(sequence)
        length = len(sequence)
        out = np.empty((length, 20))
        for start in range(0, length, self.batch_size):
            positions = range(start, min(start + self.batch_size, length))
            batch = base.repeat(len(positions), 1)
            for row, i in enumerate(positions):
                batch[row, i + 1] = self.alphabet.mask_idx
            logits = self.model(batch.to(self.device))["logits"]
            rows = torch.arange(len(positions))
            full = torch.log_softmax(logits[rows, torch.tensor(list(positions)) + 1], -1)
            out[start : start + len(positions)] = full[:, self._columns].cpu().numpy()
        return out

    def pseudo_log_likelihood(self, sequence: str) -> float:
        table = self.masked_log_probs(sequence)
        index = ["ACDEFGHIKLMNPQRSTVWY".index(a) for a in sequence]
        return float(table[np.arange(len(sequence)), index].sum())

    # ---- the oracle contract ---------------------------------------------------------------------
    def measure(self, designs: Sequence[str]):
        raw = np.full(len(designs), np.nan)
        failures: list[str | None] = [None] * len(designs)
        for n, design in enumerate(designs):
            sequence = canonical_sequence(design)
            if sequence is None:
                failures[n] = "not a sequence of the 20 standard amino acids"
            elif self.mode == "masked_marginal":
                if len(sequence) != len(self.wild_type):
                    failures[n] = (
                        f"length {len(sequence)} differs from the wild type's "
                        f"{len(self.wild_type)} (masked marginals score substitutions only)"
                    )
                else:
                    raw[n] = self._masked_marginal(sequence)
            else:
                if self._wild_pll is None:
                    self._wild_pll = self.pseudo_log_likelihood(self.wild_type)
                raw[n] = self.pseudo_log_likelihood(sequence) - self._wild_pll
        return raw, failures

    def _masked_marginal(self, sequence: str) -> float:
        if self._wild_marginals is None:
            self._wild_marginals = self.masked_log_probs(self.wild_type)
        letters = "ACDEFGHIKLMNPQRSTVWY"
        score = 0.0
        for i, (mutant, wild) in enumerate(zip(sequence, self.wild_type, strict=True)):
            if mutant != wild:
                row = self._wild_marginals[i]
                score += row[letters.index(mutant)] - row[letters.index(wild)]
        return float(score)
