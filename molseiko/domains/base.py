"""What the engine needs to know about a kind of design, and nothing more.

The engine never branches on molecules vs proteins: it asks the model's domain for a design's
canonical key, how to write a batch for people (SDF or FASTA), and what counts as "the same
family" for batch diversity (a Murcko scaffold; proteins have none), and how two designs cross
without a model (molecules: with the Graph GA's operators by default, or at an acyclic bond;
proteins: none here, the policy splices them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molseiko.errors import MolseikoError


@dataclass(frozen=True)
class Domain:
    name: str
    key_column: str
    """Column name of the design in tables ("smiles", "sequence")."""
    suffix: str
    """File suffix of the structures written per round (".sdf", ".fasta")."""
    canonical: Callable[[str | None], str | None]
    """A design's canonical key (the ledger's primary key); None if it is not a valid design."""
    writer: Callable[[Path, Sequence[str | None], Iterable[dict]], int]
    group: Callable[[str], str] | None = None
    """The design's family for `max_per_scaffold`; None: every design is its own family."""
    crossover: Callable[[Sequence[str], int, np.random.Generator], list[str]] | None = None
    """Children of pairs of designs made without a model (`graph_crossover`); None: none."""

    def write(self, stem: str | Path, designs: Sequence[str | None], tags: Iterable[dict]) -> Path:
        path = Path(f"{stem}{self.suffix}")
        self.writer(path, designs, tags)
        return path


def _murcko(smiles: str) -> str:
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles)


DEFAULT_OPERATORS = {"molecule": "graph_ga", "protein": ""}
"""What an empty `crossover_operators` means per domain (proteins cross only through the
policy: no operator at all)."""


def _molecule(crossover_operators: str) -> Domain:
    from molseiko.domains.io import write_molecules
    from molseiko.domains.molecule import canonical_smiles, graph_crossover

    crossover = graph_crossover
    if crossover_operators == "graph_ga":
        from molseiko.domains.graph_ga import ga_children

        crossover = ga_children
    return Domain(
        "molecule", "smiles", ".sdf", canonical_smiles, write_molecules, _murcko, crossover
    )


def _protein(crossover_operators: str) -> Domain:
    from molseiko.domains.protein import canonical_sequence, write_fasta

    if crossover_operators:  # proteins cross only through the policy: nothing to name
        raise MolseikoError(
            f"crossover_operators = {crossover_operators!r} needs molecules, not protein designs "
            "(leave crossover_operators empty)"
        )
    return Domain("protein", "sequence", ".fasta", canonical_sequence, write_fasta, None)


DOMAINS = {"molecule": _molecule, "protein": _protein}


def get_domain(name: str, crossover_operators: str = "") -> Domain:
    """The domain `name`, crossing designs with `crossover_operators` (config key of the same
    name; empty: the domain's default, `DEFAULT_OPERATORS`)."""
    return DOMAINS[name](crossover_operators or DEFAULT_OPERATORS[name])
