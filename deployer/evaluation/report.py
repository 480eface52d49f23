"""The evaluation report: figures as JSON, the same as a small HTML page, and lines for the terminal."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from deployer.evaluation.runner import Verdict


def verdict_lines(verdict: Verdict, *, env: str) -> list[str]:
    c, s, p = verdict.candidate, verdict.stable, verdict.paired
    lines = [f"version {c.version}: accuracy {c.accuracy:.3f} on {c.n} examples" + (f", {c.errors} did not answer"
                                                                                     if c.errors else "")]
    if c.mean_score is not None:
        lines[0] += f"; mean judge grade {c.mean_score:.3f} (accuracy: the share graded at pass_score or above)"
    if c.labels:
        lines.append(f"  macro-F1 {c.labels.macro_f1:.3f}; per class (precision / recall / F1, support):")
        for cls in c.labels.classes:
            lines.append(f"    {cls.label:<28} {cls.precision:.3f} / {cls.recall:.3f} / {cls.f1:.3f}  ({cls.support})")
    if s is not None and p is not None:
        lines.append(f"against version {s.version}: accuracy {s.accuracy:.3f} -> {c.accuracy:.3f}"
                     + (f" ({p.difference:+.3f}); {p.discordant[0]} examples got worse, {p.discordant[1]} better"
                        if p.discordant else ""))
        real = "a real drop" if p.significant_drop else "not a significant drop"
        test = "McNemar's exact test" if p.test == "mcnemar-exact" else (
            f"paired bootstrap of the mean grade ({s.mean_score or 0:.3f} -> {c.mean_score or 0:.3f}"
            + (f", 95 % interval of the change {p.interval[0]:+.3f} to {p.interval[1]:+.3f}" if p.interval else "")
            + ")")
        lines.append(f"  {test}: p = {p.p_value:.3g} (one-sided, {real}); "
                     + (f"about {p.needed_n} examples are needed to detect a {p.detectable:g} drop with 80 % power"
                        if p.needed_n else ""))
        if verdict.changed:
            lines.append(f"  {len(verdict.changed)} changed answer(s) in the report (`changed`)")
    lines.append(("PASSED" if verdict.passed else "FAILED: " + "; ".join(verdict.reasons)) + f" (evaluation, {env})")
    return lines


def write_report(verdict: Verdict, out_dir: Path, *, meta: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {**meta, **verdict.to_dict()}
    json_path, html_path = out_dir / "evaluation.json", out_dir / "evaluation.html"
    json_path.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    html_path.write_text(_html(verdict, meta), encoding="utf-8")
    return json_path, html_path


def _html(verdict: Verdict, meta: dict[str, Any]) -> str:
    e = html.escape
    c = verdict.candidate
    parts = [f"<h1>Evaluation of {e(str(meta.get('agent')))} ({e(str(meta.get('environment')))})</h1>",
             f"<p class={'pass' if verdict.passed else 'fail'}><b>{'PASSED' if verdict.passed else 'FAILED'}</b> "
             + e("; ".join(verdict.reasons)) + "</p>",
             f"<p>data set {e(str(meta.get('data')))} ({c.n} examples); version {e(c.version)}: accuracy "
             f"{c.accuracy:.3f}" + (f", macro-F1 {c.labels.macro_f1:.3f}" if c.labels else "")
             + (f", mean judge grade {c.mean_score:.3f}" if c.mean_score is not None else "") + "</p>"]
    if verdict.stable and verdict.paired:
        p = verdict.paired
        parts.append(f"<p>against version {e(verdict.stable.version)}: {verdict.stable.accuracy:.3f} &rarr; "
                     f"{c.accuracy:.3f}; {e(p.test)} p = {p.p_value:.3g}"
                     + (f" (discordant {p.discordant})" if p.discordant else "")
                     + f"; needed for a {p.detectable:g} drop: {p.needed_n} examples</p>")
    if c.labels:
        rows = "".join(f"<tr><td>{e(x.label)}</td><td>{x.support}</td><td>{x.precision:.3f}</td><td>{x.recall:.3f}"
                       f"</td><td>{x.f1:.3f}</td></tr>" for x in c.labels.classes)
        parts.append("<h2>Per class</h2><table><tr><th>class</th><th>support</th><th>precision</th><th>recall</th>"
                     f"<th>F1</th></tr>{rows}</table>")
        labels = [x.label for x in c.labels.classes]
        seen = sorted({p for row in c.labels.confusion.values() for p in row} | set(labels))
        head = "".join(f"<th>{e(p)}</th>" for p in seen)
        body = "".join(f"<tr><th>{e(w)}</th>" + "".join(f"<td>{c.labels.confusion.get(w, {}).get(p, '')}</td>"
                                                          for p in seen) + "</tr>" for w in labels)
        parts.append(f"<h2>Confusion (expected down, answered across)</h2><table><tr><th></th>{head}</tr>{body}</table>")
    if verdict.changed:
        rows = "".join(f"<tr><td>{x['index'] + 1}</td><td>{e(json.dumps(x['input'])[:200])}</td>"
                       f"<td>{e(json.dumps(x['expected'])[:120])}</td><td>{'right' if x['was_right'] else 'wrong'}"
                       f" &rarr; {'wrong' if x['was_right'] else 'right'}</td></tr>" for x in verdict.changed)
        parts.append("<h2>Answers that changed</h2><table><tr><th>line</th><th>input</th><th>expected</th>"
                     f"<th>stable &rarr; candidate</th></tr>{rows}</table>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 6px;font-size:13px}.pass{color:#176117}.fail{color:#a11}")
    return f"<!doctype html><meta charset=utf-8><title>evaluation</title><style>{style}</style>" + "".join(parts)
