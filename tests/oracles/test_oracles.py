import math

import numpy as np
import pytest
from rdkit.Chem import QED, Crippen

from molseiko.domains.molecule import to_mol
from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle
from molseiko.oracles.composite import Component, CompositeOracle
from molseiko.oracles.descriptors import descriptor_oracle, pains_oracle, similarity_oracle
from molseiko.oracles.registry import known_objectives, load_toml_objective, resolve_objective
from molseiko.oracles.transforms import DoubleSigmoid, ReverseSigmoid, Sigmoid, Step

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def test_descriptor_values_and_failures_never_raise():
    result = resolve_objective("qed")(["CCO", "not a molecule", ASPIRIN, ""])
    assert result.values[0] == pytest.approx(QED.qed(to_mol("CCO")))
    assert math.isnan(result.values[1]) and result.failures[1] == "invalid SMILES"
    assert result.failures[0] is None and result.failures[3] == "invalid SMILES"


def test_minimized_oracle_flips_sign_but_keeps_raw():
    result = descriptor_oracle("sa")([ASPIRIN])
    assert result.values[0] == -result.raw[0] and 1.0 < result.raw[0] < 3.0


def test_exception_in_oracle_becomes_flagged_nan():
    def broken(mol):
        raise RuntimeError("boom")

    from molseiko.oracles.base import MoleculeOracle

    result = MoleculeOracle("broken", broken)(["CCO"])
    assert math.isnan(result.values[0]) and "RuntimeError: boom" in result.failures[0]


def test_similarity_and_pains():
    assert similarity_oracle(ASPIRIN)([ASPIRIN]).values[0] == pytest.approx(1.0)
    assert similarity_oracle(ASPIRIN)(["CCCCCC"]).values[0] < 0.2
    # A catechol-type quinone-forming motif is a classic PAINS alert (catechol_A).
    flagged = pains_oracle()(["Oc1ccc(cc1O)/C=C/C(=O)c1ccccc1", "CCO"])
    assert flagged.values.tolist() == [0.0, 1.0]


def test_transforms_known_values():
    assert Sigmoid(2.0, 3.0)(np.array([2.0]))[0] == pytest.approx(0.5)
    assert ReverseSigmoid(0.0, 1.0)(np.array([math.log(3)]))[0] == pytest.approx(0.25)
    assert DoubleSigmoid(0.0, 10.0, 5.0)(np.array([5.0]))[0] == pytest.approx(1.0, abs=1e-9)
    assert Step(1, 3)(np.array([0.5, 1.0, 3.0, 4.0, np.nan])).tolist()[:4] == [0, 1, 1, 0]
    assert math.isnan(Step(1, 3)(np.array([np.nan]))[0])


def test_composite_geometric_mean_filter_and_penalty():
    qed, logp = descriptor_oracle("qed"), descriptor_oracle("logp")
    composite = CompositeOracle(
        "c",
        [
            Component(qed, weight=1.0),
            Component(logp, Sigmoid(0.0, 1.0), weight=1.0),
            Component(pains_oracle(), role="filter"),
            Component(descriptor_oracle("hbd"), Step(2, 100), role="penalty", weight=0.1),
        ],
    )
    smiles = [ASPIRIN, "Oc1ccc(cc1O)/C=C/C(=O)c1ccccc1", "xx"]
    result = composite(smiles)
    mol = to_mol(ASPIRIN)
    expected = math.sqrt(QED.qed(mol) * 1 / (1 + math.exp(-Crippen.MolLogP(mol))))
    assert result.values[0] == pytest.approx(expected)  # aspirin: 1 donor, no penalty
    assert result.values[1] == pytest.approx(-0.1)  # PAINS: filtered to 0, 2 donors: -0.1
    assert math.isnan(result.values[2]) and result.failures[2].startswith("qed:")
    assert set(result.details) >= {"qed_raw", "qed_score", "pains_free_score"}


class HeavyAtoms(Oracle):
    """An 'expensive' oracle (a docking stand-in) that hands back one design at a time, in
    reverse order, and logs how far it has got."""

    name, cost = "heavy", "expensive"

    def __init__(self, cost: str = "expensive"):
        self.cost, self.handed, self.measured = cost, [], []

    def measure(self, designs):
        self.measured.append(len(designs))
        mols = [to_mol(d) for d in designs]
        return [m.GetNumHeavyAtoms() if m else np.nan for m in mols], [
            None if m else "invalid" for m in mols
        ]

    def parts(self, designs):
        for i in reversed(range(len(designs))):
            self.handed.append(i)
            yield [i], self([designs[i]])


def test_composite_streams_as_its_dearest_component_hands_back_parts():
    heavy = HeavyAtoms()
    composite = CompositeOracle(
        "dock_qed",
        [Component(heavy, Step(0, 12), role="filter"), Component(descriptor_oracle("qed"))],
    )
    assert composite.cost == "expensive"
    smiles = [ASPIRIN, "CCO", "xx", "c1ccccc1"]
    whole = composite(smiles)
    parts = composite.parts(smiles)
    positions, first = next(parts)
    assert positions == [3] and heavy.handed == [3]  # the rest not measured yet
    assert first.values[0] == pytest.approx(QED.qed(to_mol("c1ccccc1")))  # 6 atoms pass
    rest = list(parts)
    assert [p for p, _ in rest] == [[2], [1], [0]]
    assert math.isnan(rest[0][1].values[0]) and rest[0][1].failures[0].startswith("heavy:")
    assert rest[1][1].values[0] == pytest.approx(QED.qed(to_mol("CCO")))
    assert rest[2][1].values[0] == 0.0  # aspirin's 13 heavy atoms fail the step: 0
    streamed = {p[0]: r.values[0] for p, r in [(positions, first), *rest]}
    np.testing.assert_allclose([streamed[i] for i in range(4)], whole.values)
    assert rest[2][1].details["heavy_raw"].tolist() == [13.0]
    assert heavy.measured == [4, 1, 1, 1, 1]  # the whole call, then each design once
    cheap = CompositeOracle("c", [Component(descriptor_oracle("qed"))])
    assert cheap.cost == "cheap" and [p for p, _ in cheap.parts(smiles)] == [[0, 1, 2, 3]]


def test_a_composites_other_costly_components_measure_the_batch_once():
    """Two costly components (say, docking on two targets): the dearer streams, the other
    measures the whole batch once, not once per part; values as if measured in one call."""
    dock, program = HeavyAtoms(), HeavyAtoms(cost="moderate")
    composite = CompositeOracle(
        "selective",
        [
            Component(dock, Step(0, 12), role="filter"),
            Component(program, Step(7, 100), role="penalty", weight=0.5, label="big"),
            Component(descriptor_oracle("qed")),
        ],
    )
    smiles = [ASPIRIN, "CCO", "xx", "c1ccccc1"]
    parts = list(composite.parts(smiles))
    assert program.measured == [4] and dock.measured == [1, 1, 1, 1]
    assert [p for p, _ in parts] == [[3], [2], [1], [0]]
    whole = composite(smiles)
    for positions, result in parts:
        i = positions[0]
        assert result.failures == [whole.failures[i]]
        np.testing.assert_allclose(result.values, whole.values[[i]])
        np.testing.assert_array_equal(result.details["big_raw"], whole.details["big_raw"][[i]])
    qed = QED.qed(to_mol(ASPIRIN))
    assert parts[3][1].values[0] == pytest.approx(0.0 * qed - 0.5)  # filtered, then penalized


def test_toml_objective(tmp_path):
    spec = tmp_path / "obj.toml"
    spec.write_text(
        'name = "drug_like"\naggregate = "arithmetic"\n'
        '[[component]]\noracle = "qed"\nweight = 3\n'
        '[[component]]\noracle = "similarity"\nreference = "CC(=O)Oc1ccccc1C(=O)O"\n'
        '[[component]]\noracle = "mw"\nrole = "filter"\n'
        'transform = { kind = "step", low = 100, high = 500 }\n'
    )
    oracle = load_toml_objective(spec)
    result = oracle([ASPIRIN, "CCO"])
    assert result.values[0] == pytest.approx((3 * QED.qed(to_mol(ASPIRIN)) + 1.0) / 4)
    assert result.values[1] == 0.0  # ethanol fails the MW filter
    assert oracle.name == "drug_like"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("oracle = 'nope'", "unknown objective 'nope'; known: "),
        ("[[component]]\noracle = 'qed'\nrole = 'boss'", "role must be one of"),
        ("[[component]]\noracle = 'qed'\ntransform = { kind = 'cubic' }", "unknown transform"),
        ("x = [", "invalid TOML"),
        ("[[component]]\noracle = 'qed'\nrole = 'filter'", "no component with role 'objective'"),
    ],
)
def test_bad_specs_are_one_line_errors(tmp_path, content, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(content)
    with pytest.raises(MolseikoError, match=message) as info:
        load_toml_objective(spec)
    assert "\n" not in str(info.value)


def test_unknown_name_lists_known_ones():
    with pytest.raises(MolseikoError) as info:
        resolve_objective("qde")
    assert "qed" in str(info.value) and "logp" in str(info.value)
    assert "qed" in known_objectives()


def test_plugin_file(tmp_path):
    plugin = tmp_path / "my_oracles.py"
    plugin.write_text(
        "from molseiko.oracles.base import MoleculeOracle\n"
        "def heavy_atoms(mol):\n    return mol.GetNumHeavyAtoms()\n"
        "class Ring(MoleculeOracle):\n"
        "    def __init__(self):\n"
        "        super().__init__('ring', lambda m: m.GetRingInfo().NumRings())\n"
    )
    assert resolve_objective(f"{plugin}:heavy_atoms")(["CCO"]).values.tolist() == [3.0]
    assert resolve_objective(f"{plugin}:Ring")(["c1ccccc1"]).values.tolist() == [1.0]
    with pytest.raises(MolseikoError, match="defines no 'missing'"):
        resolve_objective(f"{plugin}:missing")


def test_shipped_example_specs_load_and_score():
    from molseiko.oracles.registry import ORACLE_DIR

    # Docking targets are resolved (not docked: too slow here) in tests/oracles/test_docking.py.
    specs = [p for p in sorted(ORACLE_DIR.rglob("*.toml")) if "docking" not in p.parts]
    assert len(specs) >= 3
    for spec in specs:
        result = resolve_objective(str(spec))([ASPIRIN, "CCO"])
        # Every design gets a finite value or a reason (the sEH table does not hold ethanol).
        for value, failure in zip(result.values, result.failures, strict=True):
            assert np.isfinite(value) != (failure is not None), (spec, value, failure)
    drug_like = resolve_objective(str(ORACLE_DIR / "examples" / "drug_like.toml"))
    assert (drug_like([ASPIRIN, "CCO"]).values >= 0).all()


def test_contract_violations_and_batch_crashes_are_one_line_errors(tmp_path):
    from molseiko.oracles.base import Oracle

    class Short(Oracle):
        name = "short"

        def measure(self, designs):
            return [1.0], [None]

    class Crashing(Oracle):
        name = "crashing"

        def measure(self, designs):
            raise ConnectionError("docking server down")

    with pytest.raises(MolseikoError, match="returned 1 values and 1 failure reasons for 2"):
        Short()(["CCO", "CCN"])
    with pytest.raises(MolseikoError, match="docking server down.*nothing was recorded"):
        Crashing()(["CCO"])
    spec = tmp_path / "s.toml"
    spec.write_text("[[component]]\noracle = 'qed'\nweight = 0\n")
    with pytest.raises(MolseikoError, match="weights must be > 0"):
        load_toml_objective(spec)
    spec.write_text("[[component]]\noracle = 'sa'\ndirection = 'minimize'\n")
    with pytest.raises(MolseikoError, match="use a transform"):
        load_toml_objective(spec)
    spec.write_text("component = 'qed'\n")
    with pytest.raises(MolseikoError, match=r"must be \[\[component\]\] tables"):
        load_toml_objective(spec)


def test_a_spec_that_refers_to_itself_is_one_line(tmp_path):
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text(f'[[component]]\noracle = "{second}"\n[[component]]\noracle = "qed"\n')
    second.write_text(f'[[component]]\noracle = "{first}"\n')
    with pytest.raises(MolseikoError, match=r"refers to itself \(a.toml -> b.toml -> a.toml\)"):
        resolve_objective(str(first))
    assert resolve_objective("qed")(["CCO"]).values[0] > 0  # the registry still works afterwards


def test_a_failure_reason_that_is_not_text_is_stored_as_text(tmp_path):
    """A plugin returning an exception object as the reason must not stop the ledger (SQLite
    cannot store it) from recording a batch already paid for."""
    from molseiko.engine.ledger import Ledger
    from molseiko.oracles.base import Oracle

    class Careless(Oracle):
        name = "careless"

        def measure(self, designs):
            return [1.0, math.nan], [None, TimeoutError("docking timed out")]

    result = Careless()(["CCO", "CCN"])
    assert result.failures == [None, "docking timed out"]
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.propose(1, ["CCO", "CCN"], *[[math.nan] * 2] * 3, source=["sample"] * 2)
    ledger.record(1, "careless", ["CCO", "CCN"], result)
    assert [value for _, value, _ in ledger.measurements()][0] == 1.0
    assert ledger.count_measured() == 2
