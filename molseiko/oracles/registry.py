"""Turning an objective spec into an Oracle: a built-in name, `tdc:<task>`, a TOML file, a
`path/file.py:Name` plugin, or a name registered under the `molseiko.oracles` entry-point group."""

from __future__ import annotations

import importlib.util
import inspect
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

from molseiko.errors import MolseikoError
from molseiko.oracles.base import MoleculeOracle, Oracle
from molseiko.oracles.composite import Component, CompositeOracle
from molseiko.oracles.descriptors import DESCRIPTORS, descriptor_oracle, pains_oracle
from molseiko.oracles.transforms import TRANSFORMS

ORACLE_DIR = Path(__file__).resolve().parents[2] / "oracles"


def known_objectives() -> dict[str, str]:
    """Every objective name a user can give, with a one-line description."""
    known = {name: description for name, (_, _, description) in DESCRIPTORS.items()}
    known["pains_free"] = "1 if no PAINS structural alert, else 0 (use as a filter)"
    known["similarity"] = "Tanimoto (ECFP4) similarity to `reference` (TOML component only)"
    known["assay:TABLE.csv[:COLUMN]"] = "measured values looked up in a table by canonical SMILES"
    known["external (TOML)"] = "a program: designs on stdin, REINVENT4-style JSON on stdout"
    for target in sorted((ORACLE_DIR / "docking").glob("*/target.toml")):
        known[f"dock:{target.parent.name}"] = _toml_description(target)
    known["ehrlich[:L=32,c=4,k=4,q=4,seed=0]"] = (
        "Ehrlich holo function over protein letters (max 1)"
    )
    known["esm (TOML)"] = "ESM-2 masked-marginal or pseudo-likelihood score vs a wild type"
    known["simulator (TOML)"] = "a fitted landscape simulator (molseiko fit-simulator), e.g. GFP"
    known["lab"] = "the wet lab: `molseiko propose` / `ingest` rounds (lab:minimize: low is good)"
    known.update({f"tdc:{name}": text for name, text in _pmo_tasks().items()})
    known.update({name: text for name, text in _pmo_tasks().items() if name not in known})
    for entry in entry_points(group="molseiko.oracles"):
        known[entry.name] = f"plugin from {entry.value}"
    if ORACLE_DIR.is_dir():
        for path in sorted(ORACLE_DIR.rglob("*.toml")):
            known[str(path.relative_to(ORACLE_DIR.parent))] = _toml_description(path)
    return known


def resolve_objective(spec: str) -> Oracle:
    """The Oracle a spec names; a one-line MolseikoError listing known names otherwise."""
    spec = spec.strip()
    lowered = spec.lower()
    if lowered in DESCRIPTORS:
        return descriptor_oracle(lowered)
    if lowered == "pains_free":
        return pains_oracle()
    if lowered.startswith("tdc:") or lowered in _pmo_tasks():
        return _pmo_oracle(lowered.removeprefix("tdc:"))
    if lowered in ("lab", "lab:maximize", "lab:minimize"):
        from molseiko.oracles.lab import LabOracle

        return LabOracle("minimize" if lowered == "lab:minimize" else "maximize")
    if lowered.startswith("assay:"):
        return _assay_from_spec(spec)
    if lowered == "ehrlich" or lowered.startswith("ehrlich:"):
        from molseiko.oracles.ehrlich import parse_ehrlich

        return parse_ehrlich(spec)
    if lowered.startswith("dock:"):
        target = ORACLE_DIR / "docking" / spec[len("dock:") :] / "target.toml"
        if not target.is_file():
            targets = sorted(p.parent.name for p in (ORACLE_DIR / "docking").glob("*/target.toml"))
            raise MolseikoError(
                f"unknown docking target {spec!r} (known: {', '.join(targets)}; or give the path "
                "to a target.toml)"
            )
        return load_toml_objective(target)
    if ".py:" in spec:
        return _load_plugin_file(spec)
    if spec.endswith(".toml"):
        return load_toml_objective(spec)
    for entry in entry_points(group="molseiko.oracles"):
        if entry.name == spec:
            try:
                loaded = entry.load()
            except Exception as err:
                raise MolseikoError(
                    f"plugin {spec!r} ({entry.value}) failed to load: {err}"
                ) from None
            return _as_oracle(loaded, spec)
    raise MolseikoError(
        f"unknown objective {spec!r}; known: {', '.join(sorted(k for k in known_objectives()))}"
    )


_LOADING: list[Path] = []
"""TOML specs being loaded right now (a spec naming itself, directly or not, is an error)."""


def load_toml_objective(path: str | Path) -> Oracle:
    """An objective from a TOML spec: `oracle = "qed"`, or `[[component]]` tables."""
    path = Path(path)
    if not path.is_file() and (ORACLE_DIR.parent / path).is_file():
        path = ORACLE_DIR.parent / path
    resolved = path.resolve()
    if resolved in _LOADING:
        chain = " -> ".join(p.name for p in [*_LOADING, resolved])
        raise MolseikoError(f"{path}: the spec refers to itself ({chain})")
    _LOADING.append(resolved)
    try:
        return _load_toml_objective(path)
    finally:
        _LOADING.pop()


def _load_toml_objective(path: Path) -> Oracle:
    try:
        spec = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MolseikoError(f"{path}: no such objective file") from None
    except tomllib.TOMLDecodeError as err:
        raise MolseikoError(f"{path}: invalid TOML ({err})") from None
    name = spec.get("name", path.stem)
    if "component" in spec and not (
        isinstance(spec["component"], list) and all(isinstance(t, dict) for t in spec["component"])
    ):
        raise MolseikoError(f"{path}: `component` must be [[component]] tables")
    if "component" not in spec:
        if "oracle" not in spec:
            raise MolseikoError(f'{path}: needs `oracle = "name"` or [[component]] tables')
        if spec["oracle"] == "assay":
            return _assay_from_table(spec, path, name)
        if spec["oracle"] == "external":
            return _external_from_table(spec, path, name)
        if spec["oracle"] == "vina":
            return _vina_from_table(spec, path, name)
        if spec["oracle"] == "esm":
            return _esm_from_table(spec, path, name)
        if spec["oracle"] == "simulator":
            return _simulator_from_table(spec, path, name)
        return _component_oracle(spec, path)
    components = []
    for i, table in enumerate(spec["component"]):
        try:
            transform = _transform(table.get("transform"))
            components.append(
                Component(
                    _component_oracle(table, path),
                    transform,
                    table.get("role", "objective"),
                    float(table.get("weight", 1.0)),
                    float(table.get("threshold", 0.5)),
                    table.get("label", ""),
                )
            )
        except (TypeError, ValueError) as err:
            raise MolseikoError(f"{path}: component {i + 1}: {err}") from None
    try:
        return CompositeOracle(
            name, components, spec.get("aggregate", "geometric"), spec.get("description", "")
        )
    except ValueError as err:
        raise MolseikoError(f"{path}: {err}") from None


def _component_oracle(table: dict, path: Path) -> Oracle:
    name = str(table.get("oracle", ""))
    if name == "similarity":
        from molseiko.oracles.descriptors import similarity_oracle

        if "reference" not in table:
            raise MolseikoError(f'{path}: the similarity oracle needs `reference = "SMILES"`')
        return similarity_oracle(table["reference"], int(table.get("radius", 2)))
    if name == "assay" and "direction" not in table:
        return _assay_from_table(table, path, table.get("label") or None)
    if name == "external" and "direction" not in table:
        return _external_from_table(table, path, table.get("label") or "external")
    if "direction" in table:
        # Transforms read raw values, so a direction inside a composite would be ignored.
        raise MolseikoError(
            f"{path}: `direction` is not supported in specs; use a transform "
            "(e.g. reverse_sigmoid) to make low values desirable"
        )
    return resolve_objective(name)


def _assay_from_table(table: dict, path: Path, name: str | None) -> Oracle:
    """`oracle = "assay"` with `path` (relative to the spec's folder), `column`, `key_column`,
    `aggregate` and (standalone specs only) `direction`."""
    from molseiko.oracles.lab import AssayOracle

    if "path" not in table:
        raise MolseikoError(f'{path}: an assay oracle needs `path = "table.csv"`')
    table_path = Path(table["path"])
    if not table_path.is_absolute() and not table_path.is_file():
        table_path = path.parent / table_path
    return AssayOracle(
        table_path,
        table.get("column"),
        table.get("key_column"),
        table.get("aggregate", "median"),
        table.get("direction", "maximize"),
        name,
    )


def _vina_from_table(table: dict, path: Path, name: str) -> Oracle:
    """`oracle = "vina"`: a docking target (see molseiko.oracles.docking)."""
    from molseiko.oracles.docking import DockingTarget, VinaOracle, require_docking

    require_docking()
    target = DockingTarget.from_table(table, path.parent, path.parent.name or name)
    workers = table.get("workers")
    oracle = VinaOracle(target, int(workers) if workers else None, float(table.get("timeout", 600)))
    oracle.name = name
    oracle.description = table.get("description", oracle.description)
    return oracle


def _esm_from_table(table: dict, path: Path, name: str) -> Oracle:
    """`oracle = "esm"`: `weights` (local ESM-2 file), `wild_type` (a sequence) or `wild_type_fasta`
    (first record), `mode` (masked_marginal | pll), `device`."""
    from molseiko.domains.protein import read_fasta
    from molseiko.oracles.esm import ESMOracle

    if "weights" not in table:
        raise MolseikoError(f'{path}: an esm oracle needs `weights = "path/to/esm2_....pt"`')
    weights = Path(table["weights"]).expanduser()
    if not weights.is_absolute():
        weights = path.parent / weights
    if "wild_type" in table:
        wild_type = table["wild_type"]
    elif "wild_type_fasta" in table:
        fasta = Path(table["wild_type_fasta"])
        wild_type = read_fasta(fasta if fasta.is_absolute() else path.parent / fasta)[0][1]
    else:
        raise MolseikoError(f"{path}: an esm oracle needs `wild_type` or `wild_type_fasta`")
    return ESMOracle(
        weights,
        wild_type,
        table.get("mode", "masked_marginal"),
        table.get("device", "cpu"),
        name=name,
    )


def _simulator_from_table(table: dict, path: Path, name: str) -> Oracle:
    """`oracle = "simulator"`: `path` to a landscape simulator made by `molseiko fit-simulator`."""
    from molseiko.oracles.landscape import LandscapeSimulator, SimulatorOracle

    if "path" not in table:
        raise MolseikoError(f'{path}: a simulator oracle needs `path = "simulator.npz"`')
    file = Path(table["path"]).expanduser()
    if not file.is_absolute():
        file = path.parent / file
    return SimulatorOracle(LandscapeSimulator.load(file), name, table.get("description", ""))


def _external_from_table(table: dict, path: Path, name: str) -> Oracle:
    """`oracle = "external"` with `command` (run in the spec's folder), `endpoint`, `timeout`
    and (standalone specs only) `direction`."""
    from molseiko.oracles.external import ExternalProcessOracle

    if "command" not in table:
        raise MolseikoError(f'{path}: an external oracle needs `command = "program args"`')
    try:
        return ExternalProcessOracle(
            table["command"],
            name,
            table.get("endpoint", "predictions"),
            float(table.get("timeout", 600)),
            table.get("direction", "maximize"),
            table.get("description", ""),
            cwd=path.parent,
        )
    except (TypeError, ValueError) as err:
        raise MolseikoError(f"{path}: {err}") from None


def _assay_from_spec(spec: str) -> Oracle:
    """`assay:PATH` or `assay:PATH:COLUMN`."""
    from molseiko.oracles.lab import AssayOracle

    rest = spec[len("assay:") :]
    file, _, column = rest.rpartition(":")
    if not file or not Path(file).is_file():
        file, column = rest, ""
    return AssayOracle(file, column or None)


def _transform(table: dict | None):
    if table is None:
        return TRANSFORMS["identity"]()
    table = dict(table)
    kind = table.pop("kind", None)
    if kind not in TRANSFORMS:
        raise ValueError(f"unknown transform {kind!r} (known: {', '.join(TRANSFORMS)})")
    return TRANSFORMS[kind](**table)


def _load_plugin_file(spec: str) -> Oracle:
    file, _, attribute = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise MolseikoError(f"plugin {spec!r}: no such file {path}")
    module_name = f"molseiko_plugin_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        raise MolseikoError(f"plugin {spec!r}: importing {path} failed: {err}") from None
    if not hasattr(module, attribute):
        raise MolseikoError(f"plugin {spec!r}: {path} defines no {attribute!r}")
    return _as_oracle(getattr(module, attribute), spec)


def _as_oracle(obj, spec: str) -> Oracle:
    """An Oracle instance, an Oracle subclass (built with no arguments), or a function of one
    RDKit molecule returning a float (maximized)."""
    if isinstance(obj, Oracle):
        return obj
    if inspect.isclass(obj) and issubclass(obj, Oracle):
        try:
            return obj()
        except TypeError as err:
            raise MolseikoError(
                f"plugin {spec!r}: cannot build it without arguments ({err})"
            ) from None
    if callable(obj):
        return MoleculeOracle(spec.rpartition(":")[2] or spec, obj, "maximize", f"plugin {spec}")
    raise MolseikoError(f"plugin {spec!r} is not an Oracle, Oracle class or function")


def _toml_description(path: Path) -> str:
    try:
        spec = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "unreadable TOML spec"
    return spec.get("description", "objective spec")


def _pmo_tasks() -> dict[str, str]:
    from molseiko.oracles.guacamol import PMO_TASKS

    return dict(PMO_TASKS)


def _pmo_oracle(name: str) -> Oracle:
    tasks = _pmo_tasks()
    if name not in tasks:
        raise MolseikoError(f"unknown PMO task {name!r}; known: {', '.join(sorted(tasks))}")
    from molseiko.oracles.guacamol import pmo_oracle

    return pmo_oracle(name)
