"""An external scorer in the REINVENT4 ExternalProcess layout: SMILES on stdin, one per line;
`{"version": 1, "payload": {"predictions": [...]}}` on stdout, null for a molecule it cannot score.
Replace the body of `score` with your own model."""

import json
import sys

from rdkit import Chem, RDLogger
from rdkit.Chem import Crippen

RDLogger.DisableLog("rdApp.*")


def score(smiles: str):
    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else round(Crippen.MolLogP(mol), 4)


smiles = [line.strip() for line in sys.stdin if line.strip()]
print(json.dumps({"version": 1, "payload": {"predictions": [score(s) for s in smiles]}}))
