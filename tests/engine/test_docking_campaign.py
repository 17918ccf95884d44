"""A docking campaign end to end: the engine is unchanged, poses land in the run directory."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

pytest.importorskip("vina")
pytest.importorskip("meeko")

from molseiko.oracles.registry import ORACLE_DIR  # noqa: E402

PARP1 = ORACLE_DIR / "docking" / "parp1"


def test_a_docking_campaign_keeps_its_poses_in_the_run_directory(tiny_config, tmp_path):
    from molseiko.engine.build import build_campaign

    spec = tmp_path / "parp1_small.toml"
    spec.write_text(
        f'oracle = "vina"\nreceptor = "{PARP1 / "receptor.pdbqt.gz"}"\n'
        "center = [26.413, 11.282, 27.238]\nsize = [12.0, 12.0, 12.0]\nworkers = 2\n"
    )
    campaign = build_campaign(tiny_config(objective=str(spec), budget=8, batch_size=4), tmp_path)
    summaries = campaign.run()
    rows = campaign.ledger.measurements()
    assert len(rows) == 8 and summaries[-1].calls == 8
    docked = sum(np.isfinite(value) for _, value, _ in rows)
    poses = [m for f in (tmp_path / "poses").glob("*.sdf") for m in Chem.SDMolSupplier(str(f))]
    assert len(poses) == docked > 0
    assert {m.GetProp("smiles") for m in poses} <= {key for key, _, _ in rows}
