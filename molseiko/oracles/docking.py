"""AutoDock Vina docking as an oracle (optional extra: `pip install 'molseiko[dock]'`).

A target is a TOML spec next to its receptor (see `oracles/docking/<target>/target.toml`):

    oracle = "vina"
    receptor = "receptor.pdbqt.gz"   # relative to the spec; .gz is unpacked once into a cache
    center = [26.413, 11.282, 27.238]
    size = [18.521, 17.479, 19.995]
    exhaustiveness = 1

Ligands are prepared from SMILES as given (no protonation change): RDKit adds hydrogens, embeds
one conformer with a fixed seed (ETKDG) and relaxes it with MMFF; meeko writes the PDBQT. Each
worker process keeps one Vina object per target, so the receptor grid maps are computed once per
worker per batch and reused for every ligand it docks in that batch. Workers run one Vina thread
each, in parallel over ligands; a ligand that takes longer than `timeout` seconds has its worker
killed. Every failure (embedding, preparation, Vina, timeout, a lost worker) is NaN with its
reason. The raw value is the best Vina energy in kcal/mol; lower is better, so the oracle minimizes.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle

MISSING = "docking needs the optional extra: pip install 'molseiko[dock]' (vina, meeko, gemmi)"


@dataclass(frozen=True)
class DockingTarget:
    name: str
    receptor: str
    """Path to the receptor PDBQT (plain; a .gz spec is unpacked into a cache first)."""
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    exhaustiveness: int = 1
    num_modes: int = 1
    seed: int = 0
    source: str = field(default="", compare=False)

    @classmethod
    def from_table(cls, table: dict, folder: Path, name: str) -> DockingTarget:
        for key in ("receptor", "center", "size"):
            if key not in table:
                raise MolseikoError(f"{folder}: docking target {name!r} needs `{key}`")
        receptor = Path(table["receptor"])
        if not receptor.is_absolute():
            receptor = folder / receptor
        if not receptor.is_file():
            raise MolseikoError(f"docking target {name!r}: no receptor file {receptor}")
        center, size = tuple(map(float, table["center"])), tuple(map(float, table["size"]))
        if len(center) != 3 or len(size) != 3 or min(size) <= 0:
            raise MolseikoError(
                f"docking target {name!r}: center and size need 3 numbers, size > 0"
            )
        return cls(
            name,
            str(_plain_receptor(receptor)),
            center,
            size,
            int(table.get("exhaustiveness", 1)),
            int(table.get("num_modes", 1)),
            int(table.get("seed", 0)),
            str(table.get("source", "")),
        )


class VinaOracle(Oracle):
    direction = "minimize"
    cost = "expensive"

    def __init__(
        self,
        target: DockingTarget,
        workers: int | None = None,
        timeout: float = 600.0,
        executor: Executor | None = None,
        poses: str | Path | None = None,
    ):
        require_docking()
        self.target, self.timeout = target, timeout
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.name = f"vina:{target.name}"
        self.description = (
            f"AutoDock Vina energy (kcal/mol, lower is better) against {target.name}, "
            f"exhaustiveness {target.exhaustiveness}"
        )
        self._executor = executor
        self.poses = Path(poses) if poses else None
        """Folder for docked poses (SDF per batch, energy as a tag); None: not kept."""
        self.seconds: list[float] = []
        """Wall seconds per docked ligand (the last batch), for benchmarks."""

    def measure(self, designs: Sequence[str]):
        designs = list(designs)
        raw = np.full(len(designs), np.nan)
        failures: list[str | None] = [None] * len(designs)
        for i, energy, reason in self._dock(designs):
            raw[i], failures[i] = energy, reason
        return raw, failures

    def parts(self, designs: Sequence[str]):
        """Each ligand as soon as it and those before it are docked (see `Oracle.parts`): a
        kill mid-batch loses only the ligands still docking."""
        designs = list(designs)
        docked = (([i], [energy], [reason]) for i, energy, reason in self._dock(designs))
        return self._streamed(docked, len(designs))

    def _dock(self, designs: list[str]):
        """(position, energy, failure reason) per ligand in the batch's order; the poses are
        written once the whole batch is docked."""
        if not designs:
            return
        raw = np.full(len(designs), np.nan)
        poses: list[str | None] = [None] * len(designs)
        executor = self._executor or _TimeoutPool(self.workers, self.timeout)
        try:
            futures = [executor.submit(dock_one, self.target, s) for s in designs]
            self.seconds = []
            for i, future in enumerate(futures):
                energy, reason, pose, seconds = self._collect(future)
                raw[i], poses[i] = energy, pose
                if reason is None:
                    self.seconds.append(seconds)
                yield i, energy, reason
        finally:
            if self._executor is None:
                executor.shutdown()
        if self.poses is not None:
            self._write_poses(designs, raw, poses)

    def for_worker(self) -> VinaOracle:
        """One ligand at a time: each chunk a worker gets runs in one child process (so the
        timeout can kill a hung Vina), which costs a process start and the grid maps once per
        chunk; give docking an `oracle_chunk` of several ligands per worker. (A child kept alive
        across chunks would stop the worker from ever exiting.)"""
        worker = copy.copy(self)
        worker.workers, worker._executor = 1, None
        return worker

    def _collect(self, future: Future):
        try:
            return future.result(timeout=None if self._executor is None else self.timeout)
        except (TimeoutError, FutureTimeout):
            return np.nan, f"docking timed out after {self.timeout:g} s", None, 0.0
        except Exception as err:  # a killed or crashed worker fails this ligand only
            return np.nan, f"docking worker failed ({err.__class__.__name__}: {err})", None, 0.0

    def _write_poses(self, designs, raw, poses) -> None:
        from rdkit import Chem

        if all(block is None for block in poses):
            return  # no empty files: an SDF reader refuses them
        self.poses.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.poses / f"poses_{stamp}_{os.getpid()}_{uuid.uuid4().hex[:8]}.sdf"
        writer = Chem.SDWriter(str(path))
        for smiles, energy, block in zip(designs, raw, poses, strict=True):
            if block is None:
                continue
            mol = Chem.MolFromMolBlock(block, removeHs=False)
            if mol is None:
                continue
            mol.SetProp("_Name", smiles)
            mol.SetProp("smiles", smiles)
            mol.SetProp("vina_energy", f"{energy:.3f}")
            mol.SetProp("target", self.target.name)
            writer.write(mol)
        writer.close()


def require_docking() -> None:
    try:
        import meeko  # noqa: F401
        import vina  # noqa: F401
    except ImportError:
        raise MolseikoError(MISSING) from None


# ---- worker side ------------------------------------------------------------------------------
_VINA: dict[DockingTarget, object] = {}


def _vina_for(target: DockingTarget):
    """One Vina object per target per worker process: grid maps are computed once."""
    if target not in _VINA:
        from vina import Vina

        # Vina reads seed 0 as "draw a random seed": it would dock reproducibly within one
        # process but differently in each worker. Every target seed maps to a fixed one.
        engine = Vina(sf_name="vina", cpu=1, seed=target.seed + 1, verbosity=0)
        engine.set_receptor(target.receptor)
        engine.compute_vina_maps(center=list(target.center), box_size=list(target.size))
        _VINA[target] = engine
    return _VINA[target]


def prepare_ligand(smiles: str, seed: int = 0) -> tuple[str | None, str | None]:
    """(PDBQT text, None) or (None, reason)."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy
    from rdkit import Chem, rdBase
    from rdkit.Chem import AllChem

    from molseiko.domains.molecule import to_mol

    mol = to_mol(smiles)
    if mol is None:
        return None, "invalid SMILES"
    quiet = rdBase.BlockLogs()  # force-field typing noise (e.g. UFFTYPER) is not a failure
    mol = Chem.AddHs(mol)
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = seed
    if AllChem.EmbedMolecule(mol, parameters) != 0:
        parameters.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, parameters) != 0:
            return None, "3D embedding failed"
    try:
        AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
    except Exception:  # no MMFF parameters: keep the ETKDG geometry
        pass
    try:
        setups = MoleculePreparation().prepare(mol)
        text, ok, error = PDBQTWriterLegacy.write_string(setups[0])
    except Exception as err:
        return None, f"meeko preparation failed: {err.__class__.__name__}: {err}"
    del quiet
    if not ok:
        return None, f"meeko preparation failed: {str(error).strip()[:200]}"
    return text, None


def dock_one(target: DockingTarget, smiles: str):
    """(energy, failure reason, pose as a mol block, seconds) for one ligand."""
    started = time.perf_counter()
    ligand, reason = prepare_ligand(smiles, target.seed)
    if ligand is None:
        return np.nan, reason, None, 0.0
    try:
        engine = _vina_for(target)
        engine.set_ligand_from_string(ligand)
        engine.dock(exhaustiveness=target.exhaustiveness, n_poses=target.num_modes)
        energy = float(engine.energies(n_poses=1)[0][0])
        pose = _pose_block(engine.poses(n_poses=1))
    except Exception as err:
        return np.nan, f"vina failed: {err.__class__.__name__}: {err}", None, 0.0
    return energy, None, pose, time.perf_counter() - started


def _pose_block(pdbqt: str) -> str | None:
    from meeko import PDBQTMolecule, RDKitMolCreate
    from rdkit import Chem

    try:
        mols = RDKitMolCreate.from_pdbqt_mol(PDBQTMolecule(pdbqt, skip_typing=True))
    except Exception:
        return None
    return Chem.MolToMolBlock(mols[0]) if mols and mols[0] is not None else None


# ---- plumbing ---------------------------------------------------------------------------------
class _TimeoutPool(Executor):
    """Spawned worker processes (pebble) that kill a task running past `timeout`."""

    def __init__(self, workers: int, timeout: float):
        from multiprocessing import get_context

        from pebble import ProcessPool

        self.pool, self.timeout = ProcessPool(workers, context=get_context("spawn")), timeout

    def submit(self, fn, /, *args, **kwargs):
        return self.pool.schedule(fn, args, kwargs, timeout=self.timeout)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.pool.close() if not cancel_futures else self.pool.stop()
        if wait:
            self.pool.join()


def _plain_receptor(path: Path) -> Path:
    """Vina reads a plain file: unpack a .gz receptor once into a per-user cache."""
    if path.suffix != ".gz":
        return path
    data = gzip.decompress(path.read_bytes())
    digest = hashlib.sha256(data).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"molseiko-receptors-{os.getuid()}"
    cache.mkdir(parents=True, exist_ok=True)
    plain = cache / f"{path.name.removesuffix('.gz').removesuffix('.pdbqt')}-{digest}.pdbqt"
    if not plain.is_file():
        partial = plain.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, plain)
    return plain
