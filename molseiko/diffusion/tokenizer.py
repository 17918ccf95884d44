"""SELFIES tokenizer: a vocabulary built from training data and saved inside the checkpoint."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch

PAD, MASK = "[PAD]", "[MASK]"
PAD_ID, MASK_ID = 0, 1


_BRACKET_HYDROGEN = re.compile(r"\[([BCNOPS])H\d?\]")
"""A neutral, unlabelled, non-stereo aliphatic atom with bracketed hydrogens: `[SH]`, `[PH2]`."""


class SelfiesTokenizer:
    """Maps SELFIES strings to token ids and back.

    Ids 0 and 1 are the padding and absorbing (mask) tokens; the rest are SELFIES symbols, sorted.
    """

    kind = "selfies"
    domain = "molecule"

    def __init__(self, symbols: Sequence[str]):
        self.vocab: list[str] = [PAD, MASK] + sorted(set(symbols) - {PAD, MASK})
        self.index = {token: i for i, token in enumerate(self.vocab)}

    @classmethod
    def from_selfies(cls, selfies: Iterable[str]) -> SelfiesTokenizer:
        """Build the vocabulary from the symbols that occur in `selfies`."""
        import selfies as sf

        symbols: set[str] = set()
        for string in selfies:
            symbols.update(sf.split_selfies(string))
        return cls(sorted(symbols))

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, selfies: str) -> list[int] | None:
        """Token ids of one SELFIES string; None if it holds a symbol outside the vocabulary."""
        import selfies as sf

        ids = [self.index.get(symbol) for symbol in sf.split_selfies(selfies)]
        if not ids or any(i is None or i < 2 for i in ids):
            return None
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """SELFIES string of token ids; padding is dropped, a mask id is an error."""
        symbols = []
        for i in ids:
            i = int(i)
            if i == PAD_ID:
                continue
            if i == MASK_ID:
                raise ValueError("cannot decode a sequence that still holds mask tokens")
            symbols.append(self.vocab[i])
        return "".join(symbols)

    def to_design(self, ids: Iterable[int]) -> str | None:
        """Canonical SMILES of a token sequence; None if it decodes to no sanitizable molecule."""
        from molseiko.domains.molecule import from_selfies

        return from_selfies(self.decode(ids))

    def from_design(self, smiles: str) -> list[int] | None:
        """Token ids of a SMILES string; None if invalid or not expressible in this vocabulary."""
        from molseiko.domains.molecule import to_selfies

        selfies = to_selfies(smiles)
        if selfies is None:
            return None
        return self.encode(selfies) or self._implicit_hydrogen_ids(smiles)

    def _implicit_hydrogen_ids(self, smiles: str) -> list[int] | None:
        """Another spelling for designs whose SELFIES needs a symbol outside the vocabulary
        because SMILES writes an atom's hydrogens in brackets: hypervalent sulfur, `C[SH](C)C`,
        which the model makes from `[S]` with three bonds, encodes as `[SH1]`. Written without
        the bracket the atom takes the same hydrogens implicitly; the spelling is kept only if
        it decodes back to the very same molecule."""
        import selfies as sf

        from molseiko.domains.molecule import canonical_smiles, from_selfies

        canonical = canonical_smiles(smiles)
        plain = _BRACKET_HYDROGEN.sub(r"\1", canonical or "")
        if plain == canonical:
            return None
        try:
            ids = self.encode(sf.encoder(plain))
        except sf.EncoderError:
            return None
        return ids if ids and from_selfies(self.decode(ids)) == canonical else None

    def pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad to the batch's own longest sequence.

        Returns:
            tokens: `B x L` long, PAD_ID after each sequence's end.
            lengths: `B` long.
        """
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        tokens = torch.full((len(sequences), int(lengths.max())), PAD_ID, dtype=torch.long)
        for row, seq in enumerate(sequences):
            tokens[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        return tokens, lengths

    def state_dict(self) -> dict:
        return {"kind": self.kind, "vocab": list(self.vocab)}

    @classmethod
    def from_state_dict(cls, state: dict) -> SelfiesTokenizer:
        tokenizer = cls(state["vocab"][2:])
        if tokenizer.vocab != list(state["vocab"]):
            raise ValueError("checkpoint vocabulary is not in canonical order")
        return tokenizer


class AminoAcidTokenizer(SelfiesTokenizer):
    """One token per residue over the 20 standard amino acids (ids 2..21, alphabetical)."""

    kind = "amino_acid"
    domain = "protein"

    def __init__(self, symbols: Sequence[str] | None = None):
        from molseiko.domains.protein import AMINO_ACIDS

        super().__init__(list(AMINO_ACIDS))

    @classmethod
    def from_state_dict(cls, state: dict) -> AminoAcidTokenizer:
        tokenizer = cls()
        if tokenizer.vocab != list(state["vocab"]):
            raise ValueError("checkpoint vocabulary is not the 20 standard amino acids")
        return tokenizer

    def encode(self, sequence: str) -> list[int] | None:
        """Token ids of a sequence; None if it holds a non-standard letter."""
        ids = [self.index.get(letter) for letter in sequence]
        if not ids or any(i is None or i < 2 for i in ids):
            return None
        return ids

    def to_design(self, ids: Iterable[int]) -> str | None:
        return self.decode(ids) or None

    def from_design(self, sequence: str) -> list[int] | None:
        from molseiko.domains.protein import canonical_sequence

        sequence = canonical_sequence(sequence)
        return None if sequence is None else self.encode(sequence)


TOKENIZERS = {"selfies": SelfiesTokenizer, "amino_acid": AminoAcidTokenizer}


def tokenizer_from_state(state: dict) -> SelfiesTokenizer:
    """The tokenizer a checkpoint saved (checkpoints without a kind are SELFIES)."""
    kind = state.get("kind", "selfies")
    if kind == "atoms_bonds":  # graph models' atom and bond vocabulary
        from molseiko.diffusion.graph_vocab import AtomBondVocabulary

        return AtomBondVocabulary.from_state_dict(state)
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer kind {kind!r} in checkpoint")
    return TOKENIZERS[kind].from_state_dict(state)
