"""`summary.html`: the page a reviewer opens first. One file, inline CSS, no script, no external URL.

Every value from the run (messages come straight from the backend under test) is escaped, and a
Content-Security-Policy forbids loading anything even if something slipped through.
"""

from __future__ import annotations

from html import escape

from conformance.report import diff_text
from conformance.report.context import ReportContext
from conformance.report.diff import Diff
from conformance.report.model import FLAKY, TestResult
from conformance.report.verdict import INCOMPLETE, NOT_RUN, RuleOutcome, verdict_status

# Failures first: the order a reviewer should read rules in.
_RULE_ORDER = {s: i for i, s in enumerate(("FAIL", "XFAIL", FLAKY, "ERROR", INCOMPLETE, NOT_RUN, "XPASS", "PASS",
                                           "SKIP"))}
_LEVEL_ORDER = {"MUST": 0, "SHOULD": 1, "EXT": 2}
_PROBLEM = ("FAIL", "XFAIL", FLAKY, "ERROR")
MAX_MESSAGE = 400

CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--error:#8250df;--skip:#6e7781;--warn:#9a6700;--bg:#f6f8fa;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;
background:#fff}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:15px;margin:16px 0 8px}
.meta{color:#57606a;margin:0 0 16px}.meta code{font-size:12px}
.banner{border-radius:8px;padding:12px 16px;margin:8px 0;color:#fff;display:flex;gap:16px;align-items:baseline}
.banner .p{font-weight:600;min-width:150px}.banner .v{font-size:20px;font-weight:700;text-transform:uppercase;
min-width:110px}.banner .r{opacity:.95;overflow-wrap:anywhere}
.v-success{background:var(--pass)}.v-partial{background:var(--warn)}.v-failure{background:var(--fail)}
.v-error{background:var(--error)}
.alert{border:1px solid var(--fail);background:#ffebe9;border-radius:8px;padding:10px 14px;margin:12px 0}
.note{border:1px solid var(--line);background:var(--bg);border-radius:8px;padding:10px 14px;margin:12px 0}
.counts{display:flex;gap:10px;flex-wrap:wrap;margin:8px 0}
.count{border:1px solid var(--line);border-radius:8px;padding:6px 12px;background:var(--bg)}
.count b{font-size:18px;margin-right:4px}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--bg);font-weight:600;position:sticky;top:0}
col.c-status{width:86px}col.c-rule{width:340px}col.c-items{width:120px}col.c-repro{width:90px}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff;
white-space:nowrap}
.s-PASS,.s-XPASS{background:var(--pass)}.s-FAIL{background:var(--fail)}.s-XFAIL{background:#bc4c00}
.s-ERROR{background:var(--error)}.s-SKIP,.s-NOT-RUN{background:var(--skip)}.s-INCOMPLETE{background:var(--warn)}
.s-FLAKY{background:#953800}.attempts{font-size:12px;color:#57606a;margin-top:2px}
.diff ul{margin:4px 0 8px;padding-left:20px}.diff li{margin:2px 0}
.lvl{display:inline-block;border:1px solid var(--line);border-radius:4px;padding:0 4px;font-size:11px;color:#57606a}
.lvl-MUST{border-color:var(--fail);color:var(--fail)}
.rule{white-space:nowrap}.rid{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-weight:600}
.stmt{color:#57606a;font-size:12px;margin-top:2px}
.msg{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;white-space:pre-wrap}
.item{margin:4px 0 0}.item .where{color:#57606a;font-size:12px}
.muted{color:#57606a}a{color:#0969da}
details summary{cursor:pointer;font-weight:600;margin:8px 0}
tr.problem td{background:#fff8f8}
footer{margin-top:32px;color:#57606a;font-size:12px}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _short(text: str) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= MAX_MESSAGE else one[: MAX_MESSAGE - 1] + "…"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in _RULE_ORDER if counts.get(s)) or "none"


def _badge(status: str) -> str:
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


def _where(result: TestResult) -> str:
    bits = [b for b in (result.case, result.param) if b]
    return " · ".join(str(b) for b in bits) or result.nodeid.partition("::")[2] or result.nodeid


def _unrun_detail(rule: RuleOutcome, shown: int = 5) -> str:
    total = len(rule.items) + len(rule.unreported)
    names = ", ".join(n.partition("::")[2] or n for n in rule.unreported[:shown])
    more = f" (+{len(rule.unreported) - shown} more)" if len(rule.unreported) > shown else ""
    return (f'<span class="muted">only {len(rule.items)} of {total} items reported before the run ended;'
            f" not run: {_e(names)}{more}</span>")


def _repro_link(ctx: ReportContext, result: TestResult) -> str:
    path = ctx.repro.get(result.nodeid)
    return f'<a href="{_e(path)}/">repro</a>' if path else ""


def _attempts(result: TestResult) -> str:
    """Every attempt of a rerun item, in order: what a reader needs to tell intermittent from steady."""
    if not result.attempts:
        return ""
    counted = f" (counts as {verdict_status(result)})" if result.status == FLAKY else ""
    parts = "; ".join(f"#{a.attempt} {a.status}" + (f": {_short(a.message)}" if a.message and a.status != "PASS"
                                                    else "") for a in result.attempts)
    return f'<div class="attempts">{len(result.attempts)} attempts{_e(counted)}: {_e(parts)}</div>'


def _rule_row(ctx: ReportContext, rule: RuleOutcome) -> str:
    status = rule.status
    problems = [r for r in rule.items if r.status in _PROBLEM]
    if problems:
        detail = "".join(
            f'<div class="item">{_badge(r.status)} <span class="where">{_e(_where(r))}</span>'
            f'<div class="msg">{_e(_short(r.message) or "(no message)")}</div>{_attempts(r)}</div>'
            for r in problems
        )
    elif status == NOT_RUN:
        detail = '<span class="muted">no test reported this rule</span>'
    elif status == INCOMPLETE:
        detail = _unrun_detail(rule)
    elif rule.skipped_must:
        detail = '<span class="muted">some items skipped: a MUST never skips, so the rule is not verified</span>'
    else:
        first = next((r.message for r in rule.items if r.message), "")
        detail = f'<span class="muted">{_e(_short(first))}</span>' if first else ""
    counts = " ".join(f"{n}&nbsp;{_e(s)}" for s, n in rule.counts.items())
    if rule.unreported:
        counts += f" {len(rule.unreported)}&nbsp;not&nbsp;run"
    counts = counts.strip() or "&ndash;"
    links = " ".join(link for r in problems if (link := _repro_link(ctx, r)))
    # The statement helps where something went wrong; on passing rows it only makes the table long.
    shown = bool(problems) or rule.skipped_must or status == INCOMPLETE
    statement = f'<div class="stmt">{_e(_short(rule.statement))}</div>' if rule.statement and shown else ""
    return (
        f'<tr class="{"problem" if problems or status == INCOMPLETE else ""}"><td>{_badge(status)}</td>'
        f'<td title="{_e(rule.statement)}"><span class="rule"><span class="rid">{_e(rule.rule_id)}</span> '
        f'<span class="lvl lvl-{_e(rule.level)}">{_e(rule.level)}</span></span>'
        f'<div class="muted">{_e(", ".join(rule.profiles))}</div>{statement}</td>'
        f"<td>{counts}</td><td>{detail}</td><td>{links}</td></tr>"
    )


def _needs_attention(rule: RuleOutcome) -> bool:
    return rule.status in (*_PROBLEM, NOT_RUN, INCOMPLETE) or rule.skipped_must


def _table(ctx: ReportContext, rules: list[RuleOutcome]) -> str:
    ordered = sorted(rules, key=lambda r: (_RULE_ORDER.get(r.status, 9), _LEVEL_ORDER.get(r.level, 9), r.rule_id))
    rows = "".join(_rule_row(ctx, r) for r in ordered)
    return (
        '<table><colgroup><col class="c-status"><col class="c-rule"><col class="c-items"><col><col class="c-repro">'
        "</colgroup><thead><tr><th>Status</th><th>Rule</th><th>Items</th><th>What happened</th><th>Repro</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _baseline(diff: Diff) -> str:
    """The comparison with `run --baseline OLD`: regressions first, each rule with the items behind it."""
    head = (f'<div class="{"alert" if diff.regressed else "note"} diff"><b>Compared with run '
            f'<code>{_e(diff.old.run_id)}</code></b> ({_e(diff.old.implementation)}, {_e(diff.old.started_at)}): '
            f"{_e(diff_text.headline(diff))}.")
    verdicts = "".join(f"<li>verdict {_e(v.profile)}: {_e(v.old or '(none)')} → {_e(v.new or '(none)')}</li>"
                       for v in diff.verdicts)
    body = f"<ul>{verdicts}</ul>" if verdicts else ""
    for group, changes in ((g, getattr(diff, g)) for g in diff.counts()):
        if not changes:
            continue
        rows = "".join(
            f'<li><span class="rid">{_e(c.rule_id)}</span> <span class="lvl lvl-{_e(c.level)}">{_e(c.level)}</span> '
            f"{_e(c.old_status or '(none)')} → {_e(c.new_status or '(none)')}"
            + "".join(f'<div class="item">{_e(line.strip())}</div>'
                      for line in (diff_text.item_line(group, i) for i in c.items))
            + "</li>" for c in changes)
        body += f"<b>{_e(diff_text.TITLES[group])} ({len(changes)})</b><ul>{rows}</ul>"
    return f"{head}{body}</div>"


def render(ctx: ReportContext) -> bytes:
    meta = ctx.meta
    title = f"NVCF conformance: {meta.implementation} {meta.implementation_version}"
    banners = "".join(
        f'<div class="banner v-{_e(v.verdict)}"><span class="p">{_e(v.profile)}</span>'
        f'<span class="v">{_e(v.verdict)}</span><span class="r">{_e("; ".join(v.reasons) or "every rule passed")}'
        f'<br><small>{len(v.rules)} rules: {_e(_counts_text(v.counts))}</small></span></div>'
        for v in ctx.verdicts
    ) or '<div class="banner v-error"><span class="v">no verdict</span></div>'
    alerts = incomplete = ""
    if not ctx.complete:
        incomplete = ('<div class="alert"><b>Incomplete run.</b> ' + _e("; ".join(ctx.incomplete_reasons))
                   + " — this report can never certify.</div>")
    problems = ctx.certification_problems()
    cert = ("<b>Certifiable:</b> yes — a complete, unfiltered run without expectations." if not problems
            else "<b>Certifiable:</b> no — " + _e("; ".join(problems)) + ".")
    alerts += f'<div class="note">{cert}</div>'
    if ctx.warnings:
        alerts += '<div class="note"><b>Warnings</b><ul>' + "".join(f"<li>{_e(w)}</li>" for w in ctx.warnings)
        alerts += "</ul></div>"
    grpc = ctx.facts.get("grpc_inference_url")
    if isinstance(grpc, dict):
        alerts += (f'<div class="note"><b>gRPC functions</b> were created with inferenceUrl <code>{_e(grpc["value"])}'
                   f'</code>: {_e(grpc["how"])}.</div>')
    counts = ctx.status_counts()
    count_html = "".join(
        f'<div class="count"><b>{n}</b>{_badge(s)}</div>' for s, n in counts.items()
    ) or '<div class="count">no results</div>'
    unreported = sum(len(r.unreported) for r in ctx.outcomes)
    if unreported:
        count_html += f'<div class="count"><b>{unreported}</b>collected, never reported</div>'
    in_scope = [r for r in ctx.outcomes if r.in_scope]
    attention = [r for r in in_scope if _needs_attention(r)]
    fine = [r for r in in_scope if not _needs_attention(r)]
    if attention:
        rules_html = f"<h3>Needs attention ({len(attention)})</h3>{_table(ctx, attention)}"
    else:
        rules_html = '<p class="muted">nothing failed, errored or went unverified</p>'
    if fine:
        rules_html += (f"<details><summary>Passed or optional-skipped ({len(fine)})</summary>"
                       f"{_table(ctx, fine)}</details>")
    other = [r for r in ctx.outcomes if not r.in_scope and r.items]
    unseen = sum(1 for r in ctx.outcomes if not r.in_scope and not r.items)
    unseen_html = f"{unseen} catalog rule(s) outside the claimed profiles had no result. " if unseen else ""
    other_html = ""
    if other:
        other_html = (f"<details><summary>{len(other)} rule(s) outside the claimed profiles or selection"
                      f" (not counted)</summary>{_table(ctx, other)}</details>")
    selection = ""
    if ctx.selection:
        selection = (f' · selection: rules {_e(", ".join(ctx.selection.rules) or "all")},'
                     f' cases {_e(", ".join(ctx.selection.cases) or "all")}')
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="meta">run <code>{_e(meta.run_id)}</code> · harness {_e(meta.harness_version)} ·
started {_e(meta.started_at)} · finished {_e(meta.finished_at or "—")} ·
profiles {_e(", ".join(ctx.claimed))}{selection}</p>
{incomplete}
<h2>Verdicts</h2>
{banners}
{_baseline(ctx.baseline) if ctx.baseline is not None else ""}
{alerts}
<h2>Items</h2>
<div class="counts">{count_html}</div>
<h2>Rules in scope ({len(in_scope)})</h2>
{rules_html if in_scope else '<p class="muted">no rule in scope</p>'}
{other_html}
<footer>{unseen_html}Files:
<a href="conformance-report.yaml">conformance-report.yaml</a> (it lists every file of this folder by
digest: check them all with <code>nvcf-conformance report verify</code>) · <a href="junit.xml">junit.xml</a> ·
<a href="allure-results/">allure-results/</a> · repro bundles under <a href="repro/">repro/</a>.</footer>
</main></body></html>
"""
    return page.encode()
