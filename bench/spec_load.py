"""How long loading and compiling a spec takes, and how fast hostile files are refused.

Prints JSON: median milliseconds to load + compile the root agent.yaml (every environment), with
a bare `yaml.safe_load` of the same text as the baseline (what reading the file costs at all), and
to refuse a YAML alias bomb (the committed fixture and a 10**10-value one) and a 10 MB file.

    .venv/bin/python bench/spec_load.py [--runs 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployer.compiler import compile_all  # noqa: E402
from deployer.errors import SpecError  # noqa: E402
from deployer.spec import load_spec  # noqa: E402

BOMB_FIXTURE = ROOT / "tests" / "fixtures" / "invalid" / "71_yaml_bomb.yaml"


def median_ms(action: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(timings), 3)


def refused(path: Path) -> Callable[[], None]:
    def attempt() -> None:
        try:
            compile_all(load_spec(path))
        except SpecError:
            return
        raise AssertionError(f"{path} was accepted")

    return attempt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        big_bomb = Path(tmp) / "bomb.yaml"
        levels = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
        big_bomb.write_text("name: bomb\n" + "\n".join(levels) + "\n", encoding="utf-8")
        big_file = Path(tmp) / "big.yaml"
        big_file.write_bytes(b"name: big\n" + b"# padding padding padding padding\n" * (10 * 1024 * 1024 // 34))
        import yaml

        text = (ROOT / "agent.yaml").read_text(encoding="utf-8")
        baseline = median_ms(lambda: yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), runs)
        load_compile = median_ms(lambda: compile_all(load_spec(ROOT / "agent.yaml")), runs)
        figures = {
            "baseline": "yaml.safe_load of the same agent.yaml text (the C loader when PyYAML has it), same run",
            "baseline_yaml_safe_load_median_ms": baseline,
            "root_agent_yaml_load_compile_median_ms": load_compile,
            "ratio_load_compile_over_baseline": round(load_compile / baseline, 1),
            "refuse_yaml_bomb_fixture_median_ms": median_ms(refused(BOMB_FIXTURE), runs),
            "refuse_yaml_bomb_10e10_values_median_ms": median_ms(refused(big_bomb), runs),
            "refuse_10mb_file_median_ms": median_ms(refused(big_file), runs),
            "big_file_bytes": big_file.stat().st_size,
            "runs": runs,
            "python": sys.version.split()[0],
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
