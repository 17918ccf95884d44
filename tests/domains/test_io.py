import gzip

import pytest
from rdkit import Chem

from molseiko.domains.io import check_smiles, read_smiles, write_molecules
from molseiko.errors import MolseikoError


def test_read_csv_smi_and_gzip(tmp_path):
    (tmp_path / "a.csv").write_text("id,smiles\n1,CCO\n2,c1ccccc1\n")
    (tmp_path / "b.smi").write_text("CCO ethanol\n\nc1ccccc1 benzene\n")
    with gzip.open(tmp_path / "c.csv.gz", "wt") as handle:
        handle.write("smiles\nCCO\n")
    assert read_smiles(tmp_path / "a.csv") == ["CCO", "c1ccccc1"]
    assert read_smiles(tmp_path / "b.smi") == ["CCO", "c1ccccc1"]
    assert read_smiles(tmp_path / "c.csv.gz") == ["CCO"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("name,value\na,1\n", "no 'smiles' column"), ("smiles\n", "no molecules")],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(MolseikoError, match=message) as info:
        read_smiles(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(MolseikoError, match="no such file"):
        read_smiles(tmp_path / "nope.csv")


def test_check_smiles_names_first_bad_entry():
    with pytest.raises(MolseikoError, match=r"2 invalid SMILES, first at entry 2: 'C1CC'"):
        check_smiles(["CCO", "C1CC", "CC", "xx"])


def test_sdf_and_csv_round_trip(tmp_path):
    smiles = ["CCO", None, "c1ccccc1"]
    tags = [{"id": "a", "QED": 0.5}, {"id": "b", "QED": float("nan")}, {"id": "c", "QED": 0.25}]
    assert write_molecules(tmp_path / "out.sdf", smiles, tags) == 2
    records = list(Chem.SDMolSupplier(str(tmp_path / "out.sdf")))
    assert [Chem.MolToSmiles(m) for m in records] == ["CCO", "c1ccccc1"]
    assert [m.GetProp("QED") for m in records] == ["0.5000", "0.2500"]
    assert write_molecules(tmp_path / "out.csv", smiles, tags) == 3
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "smiles,QED,id" and lines[2] == ",nan,b"
    with pytest.raises(MolseikoError, match="unknown output format"):
        write_molecules(tmp_path / "out.txt", smiles, tags)
