"""Inputs for the load: a JSON-lines file of real requests, drawn as the spec says.

Each line is one action input (a JSON object). With the ``weighted`` distribution the line's
``weight_field`` (default 1 when absent) sets how often it is drawn. The weight field (the spec's
``weight_field``, else ``weight``) is metadata of the file, never part of the body that is sent. ``uniform`` draws every line equally often; ``replay`` sends them in file
order and starts again at the top when it runs out. Draws are seeded, so a run can be repeated.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import DeployerError
from deployer.jsonlines import JsonLinesFile

DISTRIBUTIONS = ("uniform", "weighted", "replay")
#: A load test with more requests than this reads only the first ones (bounded memory).
MAX_LINES = 1_000_000
#: A larger input file is refused (it is read whole, to report every bad line).
MAX_BYTES = 256 * 1024 * 1024
#: The weight field when the spec names none: removed from the bodies whatever the distribution.
DEFAULT_WEIGHT_FIELD = "weight"


class InputFileError(DeployerError):
    """The input file cannot be used; the message says `file:line: what is wrong`."""


@dataclass(frozen=True)
class InputSet:
    path: str
    bodies: tuple[bytes, ...]  # JSON bodies, ready to send
    weights: tuple[float, ...]  # all 1.0 unless weighted
    cut_at_limit: bool = False  # the file goes on past its first MAX_LINES inputs, which are these

    def limit_note(self) -> str | None:
        """What a person must be told when the file is longer than what is used."""
        if not self.cut_at_limit:
            return None
        return (f"{self.path} goes on past its first {MAX_LINES:,} inputs: the load test uses those only "
                "(split the file, or draw a sample of it, to send the others)")

    def __len__(self) -> int:
        return len(self.bodies)


def load_inputs(path: str | Path, *, distribution: str, weight_field: str | None) -> InputSet:
    """Read and check the whole file; every bad line is reported, not only the first."""
    source = Path(path)
    if distribution not in DISTRIBUTIONS:
        raise InputFileError(f"unknown distribution {distribution!r}; use one of {', '.join(DISTRIBUTIONS)}")
    if distribution == "weighted" and not weight_field:
        raise InputFileError("distribution 'weighted' needs a weight field (load_test.weight_field)")
    bodies: list[bytes] = []
    weights: list[float] = []
    field = weight_field or DEFAULT_WEIGHT_FIELD
    cut = False
    with JsonLinesFile(source, what="input file", max_bytes=MAX_BYTES, error=InputFileError,
                       hint="pass --input FILE or set load_test.input_file") as reader:
        for number, item in reader.objects("a JSON object (the action input)"):
            raw = item.pop(field, 1.0)
            if distribution == "weighted":
                if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0:
                    reader.problem(number, f"{field} must be a number >= 0, got {raw!r}")
                    continue
                weights.append(float(raw))
            else:
                weights.append(1.0)
            bodies.append(json.dumps(item, separators=(",", ":")).encode("utf-8"))
            if len(bodies) >= MAX_LINES:  # the rest is neither read nor checked: only whether there is any
                cut = reader.more()
                break
        reader.check("the input file has bad lines:")
    if not bodies:
        raise InputFileError(f"{source}: the input file has no requests (one JSON object per line)")
    if sum(weights) <= 0:
        raise InputFileError(f"{source}: every {weight_field} is 0; nothing can be drawn")
    return InputSet(path=str(source), bodies=tuple(bodies), weights=tuple(weights), cut_at_limit=cut)


class InputSampler:
    """Draws the next input. Worker `offset` of `stride` replays lines offset, offset+stride, ..."""

    def __init__(self, inputs: InputSet, distribution: str, *, seed: int, offset: int = 0,
                 stride: int = 1) -> None:
        self.inputs = inputs
        self.distribution = distribution
        self._random = random.Random(seed * 1_000_003 + offset)
        self._cursor = offset
        self._stride = max(1, stride)
        self._cumulative = list(itertools.accumulate(inputs.weights))

    def next(self) -> tuple[int, bytes]:
        count = len(self.inputs)
        if self.distribution == "replay":
            index = self._cursor % count
            self._cursor += self._stride
        elif self.distribution == "weighted":
            point = self._random.random() * self._cumulative[-1]
            index = min(bisect.bisect_right(self._cumulative, point), count - 1)
        else:
            index = self._random.randrange(count)
        return index, self.inputs.bodies[index]
