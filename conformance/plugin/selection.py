"""What a run is and which tests it runs: options, markers, the run context, and the collection checks.

Every conformance test asserts exactly one catalog rule (`@pytest.mark.rule(ID)`) on at most one chart
case (`@pytest.mark.case(ID)`); a test that does not is a collection error, not a silent pass. Tests of
rules outside `--rule`/`--case` are deselected; tests of rules whose profiles the run does not claim
are skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import Rule
from conformance.catalog.schema import EXCLUSIVE_PROFILES
from conformance.errors import ConformanceError
from conformance.run_facts import split_values
from conformance.target.config import load_target, parse_settings

from . import recording
from .context import CONTEXT_KEY, RunContext, choose_run_id, context, default_results_dir, shared_catalog
from .options import MARKERS, add_options
from .results import ITEM_KEY, ItemRecord


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    try:
        run_id = choose_run_id(config.getoption("nvcf_run_id"), (workerinput or {}).get(recording.RUN_ID_INPUT))
        path = config.getoption("target_config")
        settings = tuple(config.getoption("nvcf_settings") or ())
        target = load_target(path, overrides=parse_settings(settings))
        catalog = shared_catalog()
    except ConformanceError as exc:
        raise pytest.UsageError(str(exc)) from None
    claimed = {"core", *target.profiles, *split_values(config.getoption("nvcf_profiles"))}
    if target.kubeconfig:
        claimed.add("white-box")
    for pair in EXCLUSIVE_PROFILES:
        if pair <= claimed:
            raise pytest.UsageError(f"profiles {' and '.join(sorted(pair))} exclude each other: claim one")
    rules = frozenset(split_values(config.getoption("nvcf_rules")))
    unknown = sorted(r for r in rules if r not in catalog)
    if unknown:
        raise pytest.UsageError(f"--rule {unknown[0]}: no such rule in the catalog (see `nvcf-conformance list`)")
    results_dir = config.getoption("nvcf_results_dir")
    ctx = RunContext(
        catalog=catalog,
        target=target,
        run_id=run_id,
        claimed=frozenset(claimed),
        results_dir=Path(results_dir).resolve() if results_dir else default_results_dir(run_id),
        worker=workerinput["workerid"] if workerinput else "main",
        target_config_path=str(Path(path).resolve()) if path else None,
        charts_manifest=config.getoption("nvcf_charts_manifest"),
        rules=rules,
        cases=frozenset(split_values(config.getoption("nvcf_cases"))),
        settings=settings,
    )
    config.stash[CONTEXT_KEY] = ctx
    recording.register(config, ctx)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    made = yield
    config = collector.config
    if CONTEXT_KEY not in config.stash:
        return made
    ctx = context(config)
    items = made if isinstance(made, list) else [made] if made is not None else []
    for item in items:
        if isinstance(item, pytest.Function):
            problem = _marker_problem(item, ctx)
            if problem:
                raise collector.CollectError(f"{item.nodeid}: {problem}")
    return made


def _marker_problem(item: pytest.Item, ctx: RunContext) -> str | None:
    ids = list(dict.fromkeys(arg for mark in item.iter_markers("rule") for arg in mark.args))
    if not ids:
        return "carries no @pytest.mark.rule(ID); every conformance test asserts exactly one catalog rule"
    if len(ids) > 1:
        return f"carries several rule markers ({', '.join(map(str, ids))}); a test asserts exactly one rule"
    rule = ctx.catalog.get(str(ids[0]))
    if rule is None:
        return f"rule('{ids[0]}') names no rule of the catalog (see `nvcf-conformance list`)"
    cases = {arg for mark in item.iter_markers("case") for arg in mark.args}
    if len(cases) > 1:
        return f"carries several case markers ({', '.join(sorted(cases))})"
    if cases and next(iter(cases)) not in rule.charts:
        return f"case('{next(iter(cases))}') is not one of rule {rule.id}'s charts ({', '.join(rule.charts)})"
    return None


def item_rule(item: pytest.Item) -> Rule:
    mark = item.get_closest_marker("rule")
    assert mark is not None  # guaranteed by collection
    return context(item.config).catalog[str(mark.args[0])]


def item_case(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("case")
    return str(mark.args[0]) if mark else None


def item_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get("param")
    return None if value is None else str(value)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    ctx = context(config)
    selected, deselected = [], []
    for item in items:
        rule, case = item_rule(item), item_case(item)
        if (ctx.rules and rule.id not in ctx.rules) or (ctx.cases and case not in ctx.cases):
            deselected.append(item)
            continue
        selected.append(item)
        record = ItemRecord(rule.id, case, item_param(item))
        item.stash[ITEM_KEY] = record
        if not rule.applies(ctx.claimed):
            missing = sorted(set(rule.profiles) - ctx.claimed)
            record.gated = (
                f"{rule.level} rule {rule.id} needs profile(s) {', '.join(missing)}, not claimed by this run"
                + (" (give a kubeconfig)" if "white-box" in missing else f" (claim with --profile {missing[0]})")
            )
            item.add_marker(pytest.mark.skip(reason=record.gated))
        elif case:
            ctx.needed_cases.add(case)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
