"""Protein sequences: validation messages, the amino-acid tokenizer, FASTA round trip."""

from __future__ import annotations

import pytest

from molseiko.diffusion.tokenizer import AminoAcidTokenizer, tokenizer_from_state
from molseiko.domains.base import get_domain
from molseiko.domains.graph_ga import ga_children
from molseiko.domains.molecule import graph_crossover
from molseiko.domains.protein import canonical_sequence, check_sequence, read_fasta, write_fasta
from molseiko.errors import MolseikoError


def test_sequences_are_canonical_upper_case_standard_residues():
    assert canonical_sequence(" mkv lq\n") == "MKVLQ"
    assert canonical_sequence("MKXL") is None and canonical_sequence("") is None
    with pytest.raises(MolseikoError, match=r"residue 3 is 'X' \(unknown\); only the 20"):
        check_sequence("MKXL", "wild type")
    with pytest.raises(MolseikoError, match=r"residue 4 is '\*' \(a stop codon\)"):
        check_sequence("MKV*")


def test_amino_acid_tokenizer_round_trip_and_checkpoint_state():
    tokenizer = AminoAcidTokenizer()
    assert len(tokenizer) == 22 and tokenizer.vocab[2] == "A" and tokenizer.vocab[-1] == "Y"
    ids = tokenizer.from_design("mkwvy")
    assert ids == [2 + "ACDEFGHIKLMNPQRSTVWY".index(a) for a in "MKWVY"]
    assert tokenizer.to_design(ids + [0, 0]) == "MKWVY"
    assert tokenizer.from_design("MKB") is None
    restored = tokenizer_from_state(tokenizer.state_dict())
    assert isinstance(restored, AminoAcidTokenizer) and restored.vocab == tokenizer.vocab
    assert restored.domain == "protein"
    old_style = tokenizer_from_state({"vocab": ["[PAD]", "[MASK]", "[C]", "[O]"]})
    assert old_style.domain == "molecule"  # checkpoints from before tokenizer kinds are SELFIES


def test_fasta_headers_carry_scores_and_read_back(tmp_path):
    path = tmp_path / "round_03.fasta"
    tags = [{"id": "r03_0007", "score": 0.71234, "unc": 0.05}, {"id": "r03_0008", "value": ""}]
    assert write_fasta(path, ["MKV" * 30, "ACD"], tags) == 2
    text = path.read_text().splitlines()
    assert text[0] == ">r03_0007 score=0.7123 unc=0.05" and len(text[1]) == 60
    assert read_fasta(path) == [("r03_0007 score=0.7123 unc=0.05", "MKV" * 30), ("r03_0008", "ACD")]
    bad = tmp_path / "bad.fasta"
    bad.write_text("MKV\n>x\nMK\n")
    with pytest.raises(MolseikoError, match="bad.fasta:1: sequence before the first"):
        read_fasta(bad)


def test_domains_know_their_keys_files_and_families(tmp_path):
    molecule, protein = get_domain("molecule"), get_domain("protein")
    assert molecule.canonical("OCC") == "CCO" and protein.canonical("mk") == "MK"
    assert molecule.group("c1ccccc1CCO") == "c1ccccc1" and protein.group is None
    # Empty operators are the domain's default: the Graph GA's for molecules, none for proteins.
    assert molecule.crossover is ga_children and protein.crossover is None
    assert get_domain("molecule", "acyclic").crossover is graph_crossover
    path = protein.write(tmp_path / "batch", ["MK"], [{"id": "r01_0000"}])
    assert path.suffix == ".fasta" and read_fasta(path) == [("r01_0000", "MK")]
