"""Reference values of the PMO / GuacaMol objectives, for tests/oracles/pmo_reference_values.csv.

How the stored values were made (not run by the package or the tests):

    python3 -m venv /tmp/tdcvenv
    /tmp/tdcvenv/bin/pip install PyTDC==0.3.6 rdkit==2026.9.1 numpy==2.4.6 networkx requests
    /tmp/tdcvenv/bin/pip install --no-deps guacamol==0.5.5
    /tmp/tdcvenv/bin/python benchmarks/make_pmo_reference.py

(PyTDC 0.3.6 pulled in scipy 1.17.1, pandas 3.1.1, scikit-learn 1.9.1; no torch.) Three shims make
the old packages import under current libraries, without touching what they compute: PyTDC imports
`rdkit.six.iteritems`, gone from RDKit; guacamol imports `scipy.histogram`, gone from SciPy, and
the `fcd` package, used only by its Frechet benchmark.

Rows: the first 100 molecules of data/zinc250k/zinc250k.csv.gz, then PROBES: the tasks' reference
drugs and a few molecules that score far from 0 where ZINC molecules do not (isomers of the target
formulas, valsartan for its substructure). Columns: `smiles`; `<task>`, PyTDC 0.3.6's
`Oracle(name=task)`, left out for sitagliptin_mpo, where that version takes the geometric mean of
the raw, unmodified logP and TPSA (NaN for a negative logP, off-scale otherwise); and
`guacamol:<task>`, the guacamol 0.5.5 package's objective for the same benchmark. Six decimals.
"""

from __future__ import annotations

import csv
import gzip
import sys
import types
from pathlib import Path

import numpy
import scipy

REPOSITORY = Path(__file__).resolve().parents[1]
OUTPUT = REPOSITORY / "tests" / "oracles" / "pmo_reference_values.csv"
MOLECULES = 100

six = types.ModuleType("rdkit.six")
six.iteritems = lambda mapping: iter(mapping.items())
sys.modules["rdkit.six"] = six
scipy.histogram = numpy.histogram
sys.modules.setdefault("fcd", types.ModuleType("fcd"))

from guacamol import standard_benchmarks as benchmarks  # noqa: E402
from rdkit import RDLogger  # noqa: E402
from tdc import Oracle  # noqa: E402

RDLogger.DisableLog("rdApp.*")  # the old fingerprint calls warn once per molecule

CELECOXIB = "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"
TROGLITAZONE = "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O"
THIOTHIXENE = "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1"
ALBUTEROL = "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1"
MESTRANOL = "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1"

PROBES = [
    CELECOXIB,
    TROGLITAZONE,
    THIOTHIXENE,
    ALBUTEROL,
    MESTRANOL,
    "CC1(C)C2CCC1(C)C(=O)C2",  # camphor
    "CC(C)C1CCC(C)CC1O",  # menthol
    "O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C",  # tadalafil
    "CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C",  # sildenafil
    "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",  # osimertinib
    "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",  # fexofenadine
    "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",  # ranolazine
    "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC",  # perindopril
    r"Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\C(=O)OC",  # amlodipine
    "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F",  # sitagliptin, C16H15F6N5O
    "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1",  # zaleplon
    "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C",  # start of both hop tasks
    "CCCCC(=O)N(Cc1ccc(-c2ccccc2-c2nn[nH]n2)cc1)[C@@H](C(C)C)C(=O)O",  # valsartan
    "Cc1ccc([N+](=O)[O-])cc1N",  # C7H8N2O2
    "NNC(=O)c1ccc(Cl)cc1CCP(F)(F)=O",  # C9H10N2O2PF2Cl
    "C=CCC(=O)c1ccc(NC(=O)c2ccc3[nH]ncc3c2)cc1C",  # C19H17N3O2
]

GUACAMOL = {
    "qed": benchmarks.qed_benchmark,
    "celecoxib_rediscovery": lambda: benchmarks.similarity(CELECOXIB, "c", "ECFP4", 1.0, True),
    "troglitazone_rediscovery": lambda: benchmarks.similarity(
        TROGLITAZONE, "t", "ECFP4", 1.0, True
    ),
    "thiothixene_rediscovery": lambda: benchmarks.similarity(THIOTHIXENE, "t", "ECFP4", 1.0, True),
    "albuterol_similarity": lambda: benchmarks.similarity(ALBUTEROL, "a", "FCFP4", 0.75),
    "mestranol_similarity": lambda: benchmarks.similarity(MESTRANOL, "m", "AP", 0.75),
    "isomers_c7h8n2o2": benchmarks.isomers_c7h8n2o2,
    "isomers_c9h10n2o2pf2cl": benchmarks.isomers_c9h10n2o2pf2cl,
    "median1": benchmarks.median_camphor_menthol,
    "median2": benchmarks.median_tadalafil_sildenafil,
    "osimertinib_mpo": benchmarks.hard_osimertinib,
    "fexofenadine_mpo": benchmarks.hard_fexofenadine,
    "ranolazine_mpo": benchmarks.ranolazine_mpo,
    "perindopril_mpo": benchmarks.perindopril_rings,
    "amlodipine_mpo": benchmarks.amlodipine_rings,
    "sitagliptin_mpo": benchmarks.sitagliptin_replacement,
    "zaleplon_mpo": benchmarks.zaleplon_with_other_formula,
    "valsartan_smarts": benchmarks.valsartan_smarts,
    "deco_hop": benchmarks.decoration_hop,
    "scaffold_hop": benchmarks.scaffold_hop,
}
TDC_BROKEN = {"sitagliptin_mpo"}


def main() -> None:
    with gzip.open(REPOSITORY / "data" / "zinc250k" / "zinc250k.csv.gz", "rt") as handle:
        rows = csv.DictReader(handle)
        smiles = [next(rows)["smiles"].strip() for _ in range(MOLECULES)] + PROBES
    columns: dict[str, list[float]] = {}
    for task in GUACAMOL:
        if task not in TDC_BROKEN:
            columns[task] = [float(value) for value in Oracle(name=task)(smiles)]
    for task, benchmark in GUACAMOL.items():
        columns[f"guacamol:{task}"] = benchmark().objective.score_list(smiles)
    with OUTPUT.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["smiles", *columns])
        for i, molecule in enumerate(smiles):
            writer.writerow([molecule, *(f"{values[i]:.6f}" for values in columns.values())])
    print(f"wrote {OUTPUT} ({len(smiles)} molecules, {len(columns)} value columns)")


if __name__ == "__main__":
    main()
