import math

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from molseiko.domains.molecule import (
    canonical_smiles,
    from_selfies,
    is_radical,
    to_mol,
    to_selfies,
    to_smiles,
)
from molseiko.domains.properties import PROPERTY_NAMES, properties, sa_score
from tests.conftest import SMILES


@pytest.mark.parametrize("smiles", SMILES)
def test_smiles_selfies_round_trip(smiles):
    assert from_selfies(to_selfies(smiles)) == canonical_smiles(smiles)


@pytest.mark.parametrize("bad", ["", "   ", None, "C1CC", "c1cccc1", "CC(C)(C)(C)(C)C", "Xx"])
def test_invalid_smiles_give_none_not_a_placeholder(bad):
    assert to_mol(bad) is None
    assert canonical_smiles(bad) is None
    assert to_selfies(bad) is None


def test_canonical_key_is_independent_of_writing():
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"
    assert to_smiles(None) is None
    assert from_selfies("") is None


def test_stereo_survives_round_trip():
    smiles = "C[C@@H](N)C(=O)O"
    assert "@" in from_selfies(to_selfies(smiles))


def test_decoded_selfies_are_closed_shell_and_measured_smiles_stay_as_given():
    # A bracket atom keeps its hydrogens in SELFIES: one bond short, it is a radical.
    assert from_selfies("[C][CH1][C]") == "CCC"
    assert from_selfies("[C][NH1+1][C]") == "C[NH2+]C"
    assert from_selfies("[C][C][Branch1][C][CH1][C]") == "CC(C)C"
    # Random strings over radical-prone tokens: raw, many decode to radicals; ours never do.
    import selfies as sf

    rng = np.random.default_rng(0)
    tokens = ["[C]", "[CH1]", "[NH1+1]", "[N]", "[O]", "[=C]", "[Ring1]", "[Branch1]", "[C@@H1]"]
    raw_radicals, decoded = 0, 0
    for _ in range(300):
        selfies = "".join(rng.choice(tokens, size=rng.integers(2, 12)))
        raw = to_mol(sf.decoder(selfies))
        raw_radicals += is_radical(raw)
        smiles = from_selfies(selfies)
        assert (smiles is None) == (raw is None)
        if smiles is not None:
            decoded += 1
            assert not is_radical(to_mol(smiles))
    assert raw_radicals > 50 and decoded > 250
    # A user's radical is scored as given, never rewritten.
    assert canonical_smiles("C[CH]C") == "C[CH]C" and is_radical(to_mol("C[CH]C"))


def test_properties_known_values():
    ethanol = properties(Chem.MolFromSmiles("CCO"))
    assert ethanol["MW"] == pytest.approx(46.069, abs=1e-3)
    assert ethanol["rings"] == 0
    assert properties(Chem.MolFromSmiles("c1ccc2ccccc2c1"))["rings"] == 2
    assert all(math.isnan(v) for v in properties(None).values())
    assert set(ethanol) == set(PROPERTY_NAMES)


def test_sa_and_logp_match_the_zinc250k_table(zinc_head):
    """The shipped SAS / logP columns were computed with RDKit Contrib SA_Score / Crippen."""
    for smiles, logp, sas in zinc_head:
        values = properties(to_mol(smiles))
        assert values["logP"] == pytest.approx(logp, abs=1e-4)
        assert sa_score(to_mol(smiles)) == pytest.approx(sas, abs=1e-4)


@pytest.fixture
def zinc_head():
    frame = pd.read_csv("data/zinc250k/zinc250k.csv.gz", nrows=5)
    return list(zip(frame.smiles, frame.logP, frame.SAS, strict=True))


def test_graph_crossover_joins_a_piece_of_each_parent_at_an_acyclic_bond():
    """Biaryl-like parents with one acyclic bond each: a child is one ring of the first parent
    bonded to one ring of the second, so exactly four children exist, rings intact."""
    from molseiko.domains.molecule import graph_crossover

    parents = ["c1ccc(-c2ccncc2)cc1", "C1CCC(C2CCOCC2)CC1"]
    children = graph_crossover(parents, 400, np.random.default_rng(0))
    assert len(children) == 400
    expected = {
        "c1ccc(C2CCCCC2)cc1",
        "c1ccc(C2CCOCC2)cc1",
        "c1cc(C2CCCCC2)ccn1",
        "c1cc(C2CCOCC2)ccn1",
    }
    assert set(children) == {Chem.CanonSmiles(s) for s in expected}
    again = graph_crossover(parents, 400, np.random.default_rng(0))
    assert again == children  # the draw is the generator's


def test_graph_crossover_keeps_sizes_between_the_parents_and_refuses_odd_bonds():
    from molseiko.domains.molecule import _join, graph_crossover

    parents = ["CCOc1ccccc1C(=O)NC", "Nc1ncccc1CCCl", "O=C(O)CCc1ccc(Br)cc1", "CN(C)CCOC(=O)C"]
    sizes = {p: Chem.MolFromSmiles(p).GetNumHeavyAtoms() for p in parents}
    children = graph_crossover(parents, 300, np.random.default_rng(1))
    assert len(children) == 300
    for child in children:
        mol = Chem.MolFromSmiles(child)
        assert mol is not None and Chem.MolToSmiles(mol) == child
        assert min(sizes.values()) <= mol.GetNumHeavyAtoms() <= max(sizes.values())
        for bond in mol.GetBonds():  # never a halogen on a heteroatom, never a peroxide
            pair = sorted((bond.GetBeginAtom().GetAtomicNum(), bond.GetEndAtom().GetAtomicNum()))
            assert not (pair[1] in (9, 17, 35, 53) and pair[0] != 6) and pair != [8, 8]
    chlorine, amine = Chem.MolFromSmiles("*Cl"), Chem.MolFromSmiles("*N(C)C")
    assert _join(chlorine, amine) is None
    fluorine, sulfonyl = Chem.MolFromSmiles("*F"), Chem.MolFromSmiles("*S(=O)(=O)C")
    assert _join(fluorine, sulfonyl) is None  # a halogen listed before its partner, too
    assert _join(Chem.MolFromSmiles("*O"), Chem.MolFromSmiles("*OC")) is None
    assert Chem.MolToSmiles(_join(fluorine, Chem.MolFromSmiles("*c1ccccc1"))) == "Fc1ccccc1"
    assert Chem.MolToSmiles(_join(chlorine, Chem.MolFromSmiles("*C1CCCCC1"))) == "ClC1CCCCC1"
    # Too few parents with a cuttable bond, or nothing asked for: no children.
    assert graph_crossover(["c1ccccc1", "C1CCCCC1", "CCO"], 10, np.random.default_rng(0)) == []
    assert graph_crossover(parents, 0, np.random.default_rng(0)) == []
    assert graph_crossover(["not smiles", "CCOC"], 5, np.random.default_rng(0)) == []
