"""The landscape simulator: recovers a known global-epistasis landscape, keeps to its domain,
and round-trips through its file, the TOML registry and the CLI."""

import numpy as np
import pytest

from molseiko.diffusion.training import load_sequence_data, parse_row_filter, read_sequences
from molseiko.domains.protein import AMINO_ACIDS
from molseiko.errors import MolseikoError
from molseiko.oracles.landscape import LandscapeSimulator, fit_from_table, substitution_index
from molseiko.oracles.registry import resolve_objective

WILD = "MKTAYIAKQRQISFVKSHFSRQ"  # 22 residues


def _variants(n: int, rng: np.random.Generator, max_mutations: int = 4) -> list[str]:
    sites = np.arange(0, len(WILD), 2)  # only even sites ever mutate: odd ones stay unmeasured
    out = []
    for _ in range(n):
        letters = list(WILD)
        for i in rng.choice(sites, rng.integers(0, max_mutations + 1), replace=False):
            letters[i] = AMINO_ACIDS[rng.integers(20)]
        out.append("".join(letters))
    return out


def _truth(sequences: list[str]) -> np.ndarray:
    """A known global-epistasis landscape: y = 1 + 3 * sigmoid(2 + sum of effects)."""
    effects = np.random.default_rng(7).normal(-1.0, 1.0, size=len(WILD) * 20)
    latent = np.array([effects[substitution_index(WILD, s)].sum() for s in sequences])
    return 1.0 + 3.0 / (1.0 + np.exp(-(2.0 + latent)))


def test_fit_recovers_a_known_landscape_on_new_variants():
    rng = np.random.default_rng(0)
    train, test = _variants(3000, rng), _variants(300, rng)
    simulator = LandscapeSimulator.fit(WILD, train, _truth(train), members=3, epochs=300)
    index = [substitution_index(WILD, s) for s in test]
    inside = [simulator.out_of_domain(i) is None for i in index]
    predictions = simulator.predict([i for i, ok in zip(index, inside, strict=True) if ok]).mean(0)
    truth = _truth(test)[inside]
    assert np.mean(inside) > 0.9
    assert 1 - np.mean((predictions - truth) ** 2) / np.var(truth) > 0.95
    assert simulator.max_substitutions == 4


def test_oracle_keeps_to_the_measured_domain_and_file_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    train = _variants(800, rng, max_mutations=2)
    simulator = LandscapeSimulator.fit(WILD, train, _truth(train), members=2, epochs=50)
    simulator.save(tmp_path / "sim.npz")
    (tmp_path / "sim.toml").write_text('oracle = "simulator"\npath = "sim.npz"\n')
    oracle = resolve_objective(str(tmp_path / "sim.toml"))
    odd = WILD[:1] + ("A" if WILD[1] != "A" else "C") + WILD[2:]  # site 1 never mutates
    many = "".join("W" if i % 2 == 0 else a for i, a in enumerate(WILD))
    result = oracle([WILD, train[5], odd, many, WILD[:5], "MKTAYIAKQRQISFVKSHFSRX"])
    assert np.isfinite(result.values[:2]).all()
    assert "never measured" in result.failures[2]
    assert "outside the simulator's domain" in (result.failures[3] or "")
    assert "length 5" in result.failures[4]
    assert "standard amino acids" in result.failures[5]
    direct = simulator.predict([substitution_index(WILD, train[5])]).mean(0)[0]
    assert result.values[1] == pytest.approx(direct, abs=1e-5)  # float32 effects on disk
    assert result.details["member_std"][1] >= 0


def test_fit_from_table_measures_before_the_final_fit(tmp_path):
    rng = np.random.default_rng(2)
    sequences = _variants(1500, rng)
    values = _truth(sequences)
    lines = ["sequence,brightness"] + [
        f"{s},{v:.5f}" for s, v in zip(sequences, values, strict=True)
    ]
    lines += [WILD[:-1] + "*,1.0", f"{WILD},"]  # a stop codon and a blank value: skipped
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    simulator, report = fit_from_table(tmp_path / "t.csv", WILD, "brightness", 2, 300)
    assert report["rows_used"] == 1500 and report["rows_skipped"] == 2
    assert report["holdout_rows"] == 150 and report["holdout_r2"] > 0.9
    with pytest.raises(MolseikoError, match="no 'value' column"):
        fit_from_table(tmp_path / "t.csv", WILD, "value")


def test_pretraining_row_filter(tmp_path):
    (tmp_path / "t.csv").write_text("sequence,b\nMKT,3.5\nMKA,1.2\nMKC,\nMKD,2.5\n")
    kept = [s for _, s in read_sequences(tmp_path / "t.csv", "b>=2.5")]
    assert kept == ["MKT", "MKD"]
    assert [s for _, s in read_sequences(tmp_path / "t.csv", "b < 2")] == ["MKA"]
    data = load_sequence_data(tmp_path / "t.csv", where="b>=2.5", valid_fraction=0.0)
    assert data.summary["rows"] == 2 and data.summary["where"] == "b>=2.5"
    assert parse_row_filter("medianBrightness>=2.5") == ("medianBrightness", ">=", 2.5)
    for bad in ("b=>2", "b>=x", ">=2"):
        with pytest.raises(MolseikoError, match="COLUMN>=NUMBER"):
            parse_row_filter(bad)
    with pytest.raises(MolseikoError, match="no column 'c'"):
        read_sequences(tmp_path / "t.csv", "c>1")


def test_shipped_gfp_simulator_separates_bright_from_dark_variants():
    import pandas as pd

    from molseiko.oracles.registry import ORACLE_DIR

    root = ORACLE_DIR.parent
    table = pd.read_csv(root / "data/protein/gfp/avgfp_variants_sequences.csv.gz")
    table = table[~table.sequence.str.contains(r"\*", regex=True) & (table.num_mutations == 3)]
    ranked = table.sort_values("medianBrightness")
    dark, bright = list(ranked.sequence[:50]), list(ranked.sequence[-50:])
    oracle = resolve_objective(str(root / "oracles/examples/gfp_simulator.toml"))
    result = oracle([*dark, *bright, oracle.simulator.wild_type])
    assert np.isfinite(result.raw).all()  # measured variants are inside its domain
    assert np.mean(result.raw[50:100]) - np.mean(result.raw[:50]) > 1.5  # log10 units
    assert 3.5 < result.raw[-1] < 4.1  # the wild type: measured 3.72
