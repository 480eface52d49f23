"""Code-side checks of `deployer validate`: does the agent code match its spec?

- the entrypoint module imports from `code.path` and holds the class, marked `@agent`;
- every action in the spec is an `@action` of that class, with typed, named parameters and a
  return type (the runtime builds input validation from those hints);
- for `model.provider: python`, the loader `model.id` exists and is callable;
- every declared artifact exists.

Each problem is `(spec path, message)`, e.g. `("actions.route", "...")`.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel


def check_code(model: DeploymentModel) -> list[tuple[str, str]]:
    """Every problem of the agent code against the compiled spec (empty when it is fine)."""
    from deployer.invoke import ensure_sdk_package

    ensure_sdk_package()
    from handlers.sdk import ACTION_ATTR, agent_actions, is_agent
    from handlers.validation import signature_problems

    problems: list[tuple[str, str]] = []
    root = Path(model.code.root)
    if not root.is_dir():
        return [("code.path", f"{root} is not a directory")]
    for index, artifact in enumerate(model.code.artifacts):
        if not (root / artifact).exists():
            problems.append((f"code.artifacts.{index}", f"{artifact} does not exist under {root}"))
    module = _import(root, model.code.module, problems, "code.entrypoint")
    if module is None:
        return problems
    cls = getattr(module, model.code.class_name, None)
    if cls is None:
        problems.append(("code.entrypoint", f"module {model.code.module} has no class {model.code.class_name}"))
        return problems
    if not is_agent(cls):
        problems.append(("code.entrypoint", f"{model.code.entrypoint} is not marked @agent (from handlers import agent)"))
        return problems
    actions = agent_actions(cls)
    for spec_action in model.actions:
        path = f"actions.{spec_action.name}"
        method = actions.get(spec_action.name)
        if method is None:
            plain = getattr(cls, spec_action.name, None)
            if callable(plain) and not hasattr(plain, ACTION_ATTR):
                problems.append((path, f"{cls.__name__}.{spec_action.name} is not marked @action"))
            else:
                known = ", ".join(sorted(actions)) or "none"
                problems.append((path, f"{cls.__name__} has no @action {spec_action.name!r} (its actions: {known})"))
            continue
        for problem in signature_problems(method):
            problems.append((path, f"{cls.__name__}.{method.__name__} {problem}"))
    if model.model.provider == "python":
        _check_loader(root, model.model.model_id, problems)
    return problems


def _import(root: Path, module_name: str, problems: list[tuple[str, str]], path: str) -> Any:
    from deployer.invoke import forget_code_modules

    if not (root / f"{module_name.replace('.', '/')}.py").exists() and not (root / module_name.replace(".", "/")).is_dir():
        problems.append((path, f"module {module_name} not found in {root}"))
        return None
    forget_code_modules(root)
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        where = ""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(str(root))]
        if frames:
            where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})"
        problems.append((path, f"importing {module_name} failed: {type(exc).__name__}: {exc}{where}"))
        return None
    finally:
        if added:
            sys.path.remove(str(root))


def _check_loader(root: Path, model_id: str, problems: list[tuple[str, str]]) -> None:
    module_name, _, function_name = model_id.partition(":")
    module = _import(root, module_name, problems, "model.id")
    if module is None:
        return
    loader = getattr(module, function_name, None)
    if not callable(loader):
        problems.append(("model.id", f"{module_name} has no function {function_name}"))
        return
    try:
        params = list(inspect.signature(loader).parameters.values())
    except (TypeError, ValueError):
        return
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if (len(params) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in params)) or len(required) > 2:
        problems.append(("model.id", f"{model_id} must accept (artifacts_dir: Path, parameters: dict)"))
