"""The Graph GA's operators (`crossover_operators = "graph_ga"`)."""

import numpy as np
from rdkit import Chem

from molseiko.domains.graph_ga import SIZE_MEAN, SIZE_SD, GraphGA, ga_children

PARENTS = [
    "CC(=O)Nc1ccc(O)cc1",
    "c1ccc2[nH]ccc2c1",
    "O=C(O)c1ccccc1O",
    "CN1CCN(C)CC1",
    "CCOC(=O)c1ccc(N)cc1",
    "Cc1ccncc1C(=O)N",
]


def _rings(mol: Chem.Mol) -> set[tuple[str, ...]]:
    """Each ring as the sorted elements and aromaticity of its atoms."""
    atoms = mol.GetAtoms()
    return {
        tuple(sorted(f"{atoms[i].GetSymbol()}{atoms[i].GetIsAromatic()}" for i in ring))
        for ring in mol.GetRingInfo().AtomRings()
    }


def test_children_are_canonical_molecules_that_obey_the_ring_and_size_rules():
    children = ga_children(PARENTS, 120, np.random.default_rng(0))
    assert len(children) == 120
    parents = [Chem.MolFromSmiles(p) for p in PARENTS]
    parent_rings = set().union(*(_rings(p) for p in parents))
    largest_parent = max(p.GetNumHeavyAtoms() for p in parents)
    sizes, new_rings = [], 0
    for child in children:
        mol = Chem.MolFromSmiles(child)
        assert mol is not None and Chem.MolToSmiles(mol) == child
        assert 5 < mol.GetNumHeavyAtoms() < SIZE_MEAN + 6 * SIZE_SD
        assert all(len(ring) <= 6 for ring in mol.GetRingInfo().AtomRings())
        assert not mol.HasSubstructMatch(Chem.MolFromSmarts("[r3,r4]=[r3,r4]"))
        sizes.append(mol.GetNumHeavyAtoms())
        new_rings += bool(_rings(mol) - parent_rings)
    # Unlike the acyclic crossover, children may outgrow both parents, and cuts across rings
    # make rings that no parent has.
    assert max(sizes) > largest_parent
    assert new_rings > len(children) // 5
    assert ga_children(PARENTS, 120, np.random.default_rng(0)) == children  # the generator's draw


def test_a_child_is_never_one_of_its_own_parents():
    parents = ["CCOc1ccccc1", "CCOc1ccccc1C"]
    children = ga_children(parents, 60, np.random.default_rng(3), mutation_rate=0.0)
    assert children and not set(children) & {Chem.CanonSmiles(p) for p in parents}


def test_acyclic_crossover_joins_one_piece_of_each_parent():
    """Biaryl-like parents with one acyclic bond each: exactly four children can be made, one
    ring of the first parent bonded to one ring of the second."""
    ga = GraphGA(0)
    first, second = (
        Chem.MolFromSmiles("c1ccc(-c2ccncc2)cc1"),
        Chem.MolFromSmiles("C1CCC(C2CCOCC2)CC1"),
    )
    for mol in (first, second):
        Chem.Kekulize(mol, clearAromaticFlags=True)  # as `crossover` passes them
    children = {
        Chem.CanonSmiles(Chem.MolToSmiles(ga.crossover_acyclic(first, second))) for _ in range(200)
    }
    expected = [
        "c1ccc(C2CCCCC2)cc1",
        "c1ccc(C2CCOCC2)cc1",
        "c1cc(C2CCCCC2)ccn1",
        "c1cc(C2CCOCC2)ccn1",
    ]
    assert children == {Chem.CanonSmiles(s) for s in expected}


def test_ring_rule_known_answers():
    rules = {"c1ccccc1": True, "CC=C=C": True, "C1CCCCCCC1": False, "C1=CCC1": False}
    rules["C1CC=C=CC1"] = False  # an allene in a ring
    for smiles, allowed in rules.items():
        assert GraphGA.rings_ok(Chem.MolFromSmiles(smiles)) is allowed, smiles


def test_size_rule_and_parents_left_as_they_were():
    ga = GraphGA(0)
    assert ga.size_ok(Chem.MolFromSmiles("CCCCCCCCCC"))  # 10 heavy atoms
    assert not ga.size_ok(Chem.MolFromSmiles("CCCCC"))  # 5: too small
    assert not ga.size_ok(Chem.MolFromSmiles("C" * 60))  # 60: beyond any draw of N(39, 3.5)
    first, second = Chem.MolFromSmiles(PARENTS[0]), Chem.MolFromSmiles(PARENTS[1])
    before = [Chem.MolToSmiles(first), Chem.MolToSmiles(second)]
    for _ in range(20):
        child = ga.crossover(first, second)
        ga.mutate(first, 1.0)
    assert child is not None
    assert [Chem.MolToSmiles(first), Chem.MolToSmiles(second)] == before  # still aromatic
    assert first.GetAtomWithIdx(4).GetIsAromatic()


def test_mutation_rate_decides_whether_a_child_changes():
    ga = GraphGA(0)
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    assert ga.mutate(mol, 0.0) is mol
    mutants = [ga.mutate(mol, 1.0) for _ in range(40)]
    changed = {Chem.CanonSmiles(Chem.MolToSmiles(m)) for m in mutants if m is not None}
    assert len(changed) > 10 and Chem.CanonSmiles("CC(=O)Nc1ccc(O)cc1") not in changed
    assert all(GraphGA.rings_ok(Chem.MolFromSmiles(s)) for s in changed)


def test_the_mutation_rate_reaches_the_children():
    plain = ga_children(PARENTS, 40, np.random.default_rng(5), mutation_rate=0.0)
    mutated = ga_children(PARENTS, 40, np.random.default_rng(5), mutation_rate=1.0)
    assert len(plain) == len(mutated) == 40
    assert sum(a != b for a, b in zip(plain, mutated, strict=True)) > 30


def test_too_few_parents_or_nothing_asked_for_gives_no_children():
    rng = np.random.default_rng(0)
    assert ga_children(["CCO"], 10, rng) == []
    assert ga_children(["not smiles", "", "CCO"], 10, rng) == []
    assert ga_children(PARENTS, 0, rng) == []
