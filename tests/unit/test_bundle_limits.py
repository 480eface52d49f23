"""Lambda's size limit: the estimate from installed distributions, the message, pip's progress lines."""

from __future__ import annotations

import sys
from pathlib import Path

from deployer.bundle.deps import _run_pip
from deployer.bundle.limits import LAMBDA_UNZIPPED_LIMIT_BYTES, MB, BundleSize, BundleTooLarge, installed_size


def _distribution(site: Path, name: str, files: dict[str, int], requires: tuple[str, ...] = ()) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires))
    (info / "RECORD").write_text("".join(f"{path},sha256=x,{size}\n" for path, size in files.items())
                                 + f"{name}-1.0.dist-info/RECORD,,\n")


def test_the_estimate_follows_requirements_lambda_would_install_and_names_what_it_cannot_see(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _distribution(site, "alpha", {"alpha/__init__.py": 1_000, "alpha/core.so": 5_000, "alpha/__pycache__/x.pyc": 9_999,
                                  "../../bin/alpha": 777},
                  ("beta>=1", 'colorama; platform_system == "Windows"', 'gamma; extra == "test"', "delta[fast]"))
    _distribution(site, "beta", {"beta.py": 300})
    _distribution(site, "colorama", {"colorama/__init__.py": 50_000})
    _distribution(site, "gamma", {"gamma/__init__.py": 60_000})
    _distribution(site, "delta", {"delta/__init__.py": 10}, ('epsilon; extra == "fast"', 'zeta; extra == "slow"'))
    _distribution(site, "epsilon", {"epsilon/data.bin": 4_000})
    _distribution(site, "zeta", {"zeta/data.bin": 70_000})
    sizes, missing = installed_size(["alpha", "not-installed>=2"], python="3.12", architecture="x86_64", path=[str(site)])
    # sources count twice (their checked-hash .pyc is about as large); caches and scripts not at all
    assert sizes == {"alpha": 2 * 1_000 + 5_000, "beta": 2 * 300, "delta": 2 * 10, "epsilon": 4_000,
                     "alpha-1.0.dist-info": 0, "beta-1.0.dist-info": 0, "delta-1.0.dist-info": 0,
                     "epsilon-1.0.dist-info": 0}
    assert missing == ("not-installed",)


def test_over_the_limit_says_by_how_much_what_weighs_most_and_how_to_fix_it() -> None:
    size = BundleSize("production", 268 * MB, (("scipy", 112 * MB), ("sklearn", 45 * MB)))
    error = BundleTooLarge(size, Path("/tmp/bundle"))
    text = str(error)
    assert "268.0 MB unzipped" in text and "over Lambda's 250 MB unzipped limit (262,144,000 bytes)" in text
    assert "scipy 112.0 MB, sklearn 45.0 MB" in text and "/tmp/bundle" in text
    assert "trim code.requirements" in text and "samples/support_router" in text and "container image" in text
    assert size.over and not size.near


def test_an_estimate_says_so_and_near_the_limit_is_flagged() -> None:
    size = BundleSize("staging", int(0.9 * LAMBDA_UNZIPPED_LIMIT_BYTES), exact=False, method="estimated",
                      not_counted=("torch",))
    assert size.near and not size.over
    assert "about 225 MB" in size.describe() and "90% of Lambda's" in size.describe()
    assert "not counted (not installed here): torch" in size.describe()


def test_pip_collecting_and_downloading_lines_become_progress_and_errors_are_kept() -> None:
    lines: list[str] = []
    script = ("import sys; print('Collecting scikit-learn'); print('  Downloading scipy-1.17.1.whl (35.0 MB)');"
              "print('Requirement already satisfied: numpy'); sys.stderr.write('ERROR: no matching distribution'); sys.exit(1)")
    code, stderr = _run_pip([sys.executable, "-c", script], lines.append)
    assert code == 1 and "ERROR: no matching distribution" in stderr
    assert lines == ["pip: Collecting scikit-learn", "pip: Downloading scipy-1.17.1.whl (35.0 MB)"]


def test_a_cached_install_gives_its_recorded_parts_or_is_measured(tmp_path: Path) -> None:
    from deployer.bundle.limits import cached_size

    cache = tmp_path / "deps" / "py3.12-x86_64-abc"
    assert cached_size(cache) is None  # not installed yet
    (cache / "numpy").mkdir(parents=True)
    (cache / "numpy" / "core.so").write_bytes(b"x" * 1000)
    (cache / ".complete").write_text("numpy\n")
    assert cached_size(cache) == {"(dependencies, cached install)": 1000 + len("numpy\n")}  # no record: measured
    (tmp_path / "deps" / "py3.12-x86_64-abc.size.json").write_text('{"size_bytes": 1000, "parts": {"numpy": 1000}}')
    assert cached_size(cache) == {"numpy": 1000}
