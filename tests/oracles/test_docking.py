"""Vina docking on a real shipped receptor, with a small box and exhaustiveness 1."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

pytest.importorskip("vina")
pytest.importorskip("meeko")

from molseiko.oracles.docking import DockingTarget, VinaOracle, dock_one, prepare_ligand  # noqa: E402
from molseiko.oracles.registry import ORACLE_DIR, resolve_objective  # noqa: E402

PARP1 = ORACLE_DIR / "docking" / "parp1"


def small_target(**overrides) -> DockingTarget:
    table = {
        "receptor": "receptor.pdbqt.gz",
        "center": [26.413, 11.282, 27.238],
        "size": [12.0, 12.0, 12.0],
        "exhaustiveness": 1,
    }
    table.update(overrides)
    return DockingTarget.from_table(table, PARP1, "parp1-small")


def test_docking_is_reproducible_and_poses_sit_in_the_box(tmp_path):
    target = small_target()
    first = dock_one(target, "c1ccc2[nH]c(=O)c3ccccc3c2c1")  # phenanthridinone, a PARP inhibitor
    again = dock_one(target, "c1ccc2[nH]c(=O)c3ccccc3c2c1")
    assert first[1] is None and -12.0 < first[0] < -5.0  # a real binder, kcal/mol
    assert first[0] == again[0]  # fixed seeds: the same energy twice
    pose = Chem.MolFromMolBlock(first[2], removeHs=False)
    heavy = Chem.RemoveHs(pose)
    assert Chem.MolToSmiles(heavy) == Chem.CanonSmiles("c1ccc2[nH]c(=O)c3ccccc3c2c1")
    xyz = pose.GetConformer().GetPositions()
    assert (np.abs(xyz - np.array(target.center)) <= 6.0 + 2.5).all()  # inside the box (+ margin)


def test_oracle_flags_failures_and_writes_poses_with_energies(tmp_path):
    oracle = VinaOracle(small_target(), workers=2, timeout=120, poses=tmp_path / "poses")
    result = oracle(["CC(=O)Oc1ccccc1C(=O)O", "not_a_smiles", "[Na+].[Cl-]", "CCN(CC)CC"])
    assert np.isfinite(result.raw[[0, 3]]).all() and (result.raw[[0, 3]] < 0).all()
    assert result.values[0] == -result.raw[0]  # lower energy is better
    assert result.failures[1] == "invalid SMILES"
    assert np.isnan(result.raw[2]) and result.failures[2] is not None  # ions: meeko refuses
    (sdf,) = (tmp_path / "poses").glob("*.sdf")
    poses = [m for m in Chem.SDMolSupplier(str(sdf), removeHs=False)]
    assert len(poses) == 2
    assert float(poses[0].GetProp("vina_energy")) == pytest.approx(result.raw[0], abs=1e-3)


def test_a_ligand_past_its_timeout_is_nan_with_the_reason():
    oracle = VinaOracle(small_target(exhaustiveness=64), workers=1, timeout=1.0)
    result = oracle(["CC(C)Cc1ccc(cc1)C(C)C(=O)O"])
    assert np.isnan(result.raw[0]) and "timed out after 1 s" in result.failures[0]


def test_shipped_targets_resolve_and_bad_specs_are_one_line(tmp_path):
    oracle = resolve_objective("dock:parp1")
    assert oracle.name == "vina_parp1" and oracle.direction == "minimize"
    assert oracle.target.size == (18.521, 17.479, 19.995)
    for name in ("fa7", "5ht1b", "jak2", "braf"):
        assert resolve_objective(f"dock:{name}").target.exhaustiveness == 1
    with pytest.raises(Exception, match="unknown docking target 'dock:egfr'.*parp1"):
        resolve_objective("dock:egfr")
    spec = tmp_path / "t.toml"
    spec.write_text(
        'oracle = "vina"\nreceptor = "nowhere.pdbqt"\ncenter = [0, 0, 0]\nsize = [1, 1, 1]\n'
    )
    with pytest.raises(Exception, match="no receptor file"):
        resolve_objective(str(spec))
    assert prepare_ligand("C1=CC=CC=C1")[1] is None


def test_scheduled_docking_runs_one_ligand_per_worker_and_keeps_poses(tmp_path):
    from molseiko.oracles.parallel import parallel

    assert VinaOracle(small_target(), workers=4, timeout=120).for_worker().workers == 1

    spec = tmp_path / "parp1_small.toml"
    spec.write_text(
        f'oracle = "vina"\nreceptor = "{PARP1 / "receptor.pdbqt.gz"}"\n'
        "center = [26.413, 11.282, 27.238]\nsize = [12.0, 12.0, 12.0]\nexhaustiveness = 1\n"
    )
    ligands = ["CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "not_a_smiles"]
    serial = VinaOracle(small_target(), workers=1, timeout=120)(ligands)
    oracle = parallel(str(spec), "processes:2", 1)
    assert oracle.poses is None  # a campaign points it at RUN/poses
    oracle.poses = tmp_path / "poses"
    try:
        result = oracle(ligands)
    finally:
        oracle.executor.shutdown()
    np.testing.assert_allclose(result.raw[:2], serial.raw[:2])  # seeded: the same energies
    assert result.failures[2] == "invalid SMILES"
    poses = [m for f in (tmp_path / "poses").glob("*.sdf") for m in Chem.SDMolSupplier(str(f))]
    assert sorted(m.GetProp("smiles") for m in poses) == sorted(ligands[:2])


def test_parts_hand_back_each_ligand_once_it_and_those_before_it_are_docked(monkeypatch):
    """A campaign records each docked ligand at once: the first comes back while the second is
    still docking, with its energy as measured (raw) and negated (values: lower is better)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from molseiko.oracles import docking

    release = threading.Event()

    def fake_dock(target, smiles):
        if smiles == "CCCC":
            assert release.wait(10)
        return -float(len(smiles)), None, None, 0.5

    monkeypatch.setattr(docking, "dock_one", fake_dock)
    oracle = VinaOracle(small_target(), executor=ThreadPoolExecutor(2), timeout=30)
    parts = oracle.parts(["CCO", "CCCC"])
    positions, first = next(parts)  # CCCC is still waiting for `release`
    assert positions == [0] and first.raw.tolist() == [-3.0] and first.values.tolist() == [3.0]
    release.set()
    positions, second = next(parts)
    assert positions == [1] and second.raw.tolist() == [-4.0]
    assert next(parts, None) is None and oracle.seconds == [0.5, 0.5]
