"""An oracle that runs a program: designs one per line on stdin, scores as JSON on stdout.

The payload layout is REINVENT4's ExternalProcess one, so scoring scripts written for REINVENT
work unchanged: `{"version": 1, "payload": {"predictions": [0.1, 0.7, ...]}}`. A bare JSON list
is accepted too; `null` (or a non-number) marks one design as failed. A crash, a timeout or
unreadable output fails the batch's designs with the reason, and never stops the campaign.
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from molseiko.errors import MolseikoError
from molseiko.oracles.base import Oracle


class ExternalProcessOracle(Oracle):
    cost = "moderate"

    def __init__(
        self,
        command: str | Sequence[str],
        name: str = "external",
        endpoint: str = "predictions",
        timeout: float = 600.0,
        direction: str = "maximize",
        description: str = "",
        cwd: str | Path | None = None,
    ):
        self.cwd = cwd
        command = shlex.split(command) if isinstance(command, str) else list(command)
        # `{python}`: the interpreter running molseiko, so a spec's script finds the same packages
        self.command = [sys.executable if part == "{python}" else part for part in command]
        if not self.command:
            raise MolseikoError("an external oracle needs a `command`")
        if direction not in ("maximize", "minimize"):
            raise MolseikoError(f"direction must be 'maximize' or 'minimize', not {direction!r}")
        self.name, self.endpoint, self.timeout, self.direction = name, endpoint, timeout, direction
        self.description = description or f"runs {shlex.join(self.command)}"

    def measure(self, designs: Sequence[str]):
        raw = np.full(len(designs), np.nan)
        if not designs:
            return raw, []
        try:
            # Its own process group: a timeout kills wrappers (sh -c, conda run) and children too.
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as err:
            return raw, [f"{self.name}: could not start {self.command[0]}: {err}"] * len(designs)
        try:
            stdout, stderr = process.communicate(
                ("\n".join(designs) + "\n").encode(), timeout=self.timeout
            )
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return raw, [f"{self.name}: timed out after {self.timeout:g} s"] * len(designs)
        stdout = stdout.decode("utf-8", errors="replace")
        stderr = stderr.decode("utf-8", errors="replace")
        if process.returncode != 0:
            last = (stderr.strip().splitlines() or ["no stderr"])[-1][:200]
            return raw, [f"{self.name}: exit code {process.returncode}: {last}"] * len(designs)
        try:
            scores = self._scores(json.loads(stdout))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            return raw, [f"{self.name}: unreadable output ({err})"] * len(designs)
        if len(scores) != len(designs):
            reason = f"{self.name}: {len(scores)} scores for {len(designs)} designs"
            return raw, [reason] * len(designs)
        failures: list[str | None] = [None] * len(designs)
        for i, score in enumerate(scores):
            value = _finite(score)
            if value is None:
                failures[i] = f"{self.name}: no score ({score!r})"
            else:
                raw[i] = value
        return raw, failures

    def _scores(self, data) -> list:
        if isinstance(data, list):
            return data
        payload = data["payload"]
        if self.endpoint in payload:
            return list(payload[self.endpoint])
        if len(payload) == 1:
            return list(next(iter(payload.values())))
        raise KeyError(f"no endpoint {self.endpoint!r} in payload (has {', '.join(payload)})")


def _finite(score) -> float | None:
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    return float(score) if math.isfinite(score) else None


def _kill_group(process: subprocess.Popen) -> None:
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()
    process.communicate()
