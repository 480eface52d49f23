"""Generated parts of README.md: the command reference and the agent.yaml field reference.

`python -m deployer.docs` rewrites the marked blocks of README.md; a test fails when they are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deployer.cli import COMMANDS, LazyGroup, cli
from deployer.spec.reference import render_reference

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = {"commands": "<!-- commands:start -->", "spec": "<!-- spec:start -->"}


def render_commands() -> str:
    ctx = click.Context(cli, info_name="deployer")
    lines: list[str] = []
    for name in sorted(COMMANDS):
        command = LazyGroup._load(name)
        if command is None:
            continue
        lines += _command(command, ctx, f"deployer {name}")
    return "\n".join(lines).rstrip() + "\n"


def _command(command: click.Command, parent: click.Context, path: str) -> list[str]:
    ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    out = [f"#### `{path} {usage}`".replace(" `", "`", 0), "", (command.help or "").strip().split("\n\n")[0], ""]
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option) and p.name != "help"]
    if options:
        out += ["| option | meaning |", "|---|---|"]
        for option in options:
            record = option.get_help_record(ctx)
            if record:
                out.append(f"| `{record[0]}` | {record[1].replace('|', '/')} |")
        out.append("")
    if isinstance(command, click.Group):
        for sub in sorted(command.list_commands(ctx)):
            child = command.get_command(ctx, sub)
            if child is not None:
                out += _command(child, ctx, f"{path} {sub}")
    return out


def _replace(text: str, block: str, body: str) -> str:
    start = BLOCKS[block]
    end = start.replace(":start", ":end")
    if start not in text or end not in text:
        raise SystemExit(f"README.md lacks the {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def render_readme(text: str) -> str:
    text = _replace(text, "commands", render_commands())
    return _replace(text, "spec", render_reference().split("\n", 2)[2].lstrip("\n"))


def main() -> None:
    current = README.read_text(encoding="utf-8")
    updated = render_readme(current)
    if "--check" in sys.argv:
        if updated != current:
            import difflib

            diff = "".join(difflib.unified_diff(current.splitlines(True), updated.splitlines(True), "README.md", "rendered", n=1))
            sys.exit(f"README.md is stale: run python -m deployer.docs\n{diff[:4000]}")
        return
    README.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
