"""The complexity score: size that matters, cross-cutting signals, risks, easy patterns, and the
properties routing relies on (bounded, monotone in new areas, docs never above code)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.complexity import Complexity, area_of, score
from bot.core.diff import parse
from bot.core.drivers import FITTED_POINTS, RISK_POINTS
from tests.builders import Edit, code_lines, git_diff, prose_lines


def scored(*edits: Edit) -> Complexity:
    return score(parse(git_diff(*edits)))


def test_a_bigger_change_in_the_same_file_scores_higher() -> None:
    small = scored(Edit("app/views.py", added=code_lines(3)))
    large = scored(Edit("app/views.py", added=code_lines(60)))
    assert 0 < small.score < large.score <= 100


def test_docs_only_is_capped_and_says_so() -> None:
    result = scored(Edit("docs/guide.md", added=prose_lines(400)))
    assert "docs-only" in result.patterns
    assert result.score <= 20
    assert any("docs only" in reason for reason in result.reasons)


def test_tests_only_is_capped() -> None:
    result = scored(Edit("tests/test_views.py", added=code_lines(400)))
    assert "tests-only" in result.patterns
    assert result.score <= 40


def test_whitespace_only_reindent_does_not_count_as_change() -> None:
    body = code_lines(30)
    result = scored(Edit("pkg/mod.py", removed=body, added=["    " + line for line in body]))
    assert "whitespace-only" in result.patterns
    assert result.features["code_lines"] == 0
    assert result.features["whitespace_only_lines"] == 60
    assert result.score <= 5


def test_typo_fix_is_recognised() -> None:
    result = scored(
        Edit("pkg/mod.py", removed=["# Retrun the value"], added=["# Return the value"])
    )
    assert "typo-only" in result.patterns
    assert result.score <= 10


def test_dependency_bump_is_recognised() -> None:
    result = scored(
        Edit(
            "package.json",
            removed=['    "express": "^4.18.2",'],
            added=['    "express": "^4.19.0",'],
        )
    )
    assert "dependency-bump" in result.patterns
    assert result.score <= 25


def test_generated_and_lock_files_do_not_count() -> None:
    code = Edit("app/views.py", added=code_lines(10))
    lock = Edit("poetry.lock", added=[f'name = "pkg{i}"' for i in range(3000)])
    alone = scored(code)
    with_lock = scored(code, lock)
    assert with_lock.score == alone.score
    assert with_lock.features["generated_lines"] == 3000
    assert any("in 1 generated or lock file not counted" in r for r in with_lock.reasons)


def test_only_generated_files_is_the_easiest_pattern() -> None:
    result = scored(Edit("api/service.pb.go", added=code_lines(500)))
    assert result.patterns == ("generated-only",)
    assert result.score <= 5


def test_each_risky_area_is_named_and_raises_the_score() -> None:
    plain = scored(Edit("app/report.py", added=code_lines(8)))
    cases = {
        "migration": Edit("app/migrations/0042_add_index.py", added=code_lines(8)),
        "auth": Edit("app/report.py", added=[*code_lines(8), "    check_password(user, password)"]),
        "concurrency": Edit("app/report.py", added=[*code_lines(8), "    with threading.Lock():"]),
        "ci": Edit(".github/workflows/release.yml", added=[f"  step{i}: run" for i in range(8)]),
    }
    for risk, edit in cases.items():
        result = scored(edit)
        assert risk in result.risks, risk
        assert result.score > plain.score or risk == "ci", risk


def test_removing_a_public_function_is_an_api_change() -> None:
    result = scored(
        Edit("lib/client.py", removed=["def fetch(url, timeout):"], added=["def fetch(url):"])
    )
    assert "public-api" in result.risks
    assert any("public definition" in r for r in result.reasons)


def test_areas_are_counted_and_named() -> None:
    result = scored(
        Edit("api/handlers.py", added=code_lines(5)),
        Edit("db/models.py", added=code_lines(5, "row")),
        Edit("src/billing/invoice.py", added=code_lines(5, "amount")),
    )
    assert result.features["areas"] == ["api/", "billing/", "db/"]
    assert any(r.startswith("touches 3 areas: api/, billing/, db/") for r in result.reasons)


def test_area_skips_generic_roots_and_keeps_two_levels() -> None:
    assert area_of("src/bot/models/local.py") == "bot/models/"
    assert area_of("django/db/models/base.py") == "django/db/"
    assert area_of("setup.py") == "(root)"
    assert area_of("pkg/server/http.go") == "server/"


def test_a_name_defined_in_one_file_and_used_in_another_is_coupling() -> None:
    coupled = scored(
        Edit(
            "core/rates.py",
            added=["def convert_currency(amount, rate):", "    return amount * rate"],
        ),
        Edit("web/checkout.py", added=["    total = convert_currency(price, rate)"]),
    )
    apart = scored(
        Edit(
            "core/rates.py",
            added=["def convert_currency(amount, rate):", "    return amount * rate"],
        ),
        Edit("web/checkout.py", added=["    total = round_price(price, rate)"]),
    )
    assert coupled.features["coupling"] == 1
    assert apart.features["coupling"] == 0
    assert coupled.score > apart.score


def test_context_tokens_grow_with_shown_content_but_not_with_deleted_files() -> None:
    small = scored(Edit("a/x.py", added=code_lines(10)))
    large = scored(Edit("a/x.py", added=code_lines(400)))
    deleted = scored(Edit("a/x.py", status="deleted", removed=code_lines(400)))
    assert small.context_tokens < large.context_tokens
    assert deleted.context_tokens < small.context_tokens


def test_blank_and_comment_lines_are_not_code() -> None:
    result = scored(Edit("a/x.py", added=["", "# a comment", "// another", "x = compute(y)"]))
    assert result.features["code_lines"] == 1


def test_new_control_flow_raises_the_score_over_the_same_size_without_it() -> None:
    straight = scored(
        Edit("app/pay.py", added=["    total = price * qty", "    total = total + fee"])
    )
    branching = scored(
        Edit("app/pay.py", added=["    if price and qty:", "        total = price * qty + fee"])
    )
    assert straight.features["new_branches"] == 0
    assert branching.features["new_branches"] == 2  # `if` and `and`
    assert branching.score > straight.score
    assert any(r.startswith("2 new decision points (+") for r in branching.reasons)


def test_decision_points_only_on_removed_lines_are_not_new_control_flow() -> None:
    result = scored(
        Edit("app/pay.py", removed=["    if price and qty:"], added=["    total = price"])
    )
    assert result.features["new_branches"] == 0


def test_calling_more_functions_from_added_lines_raises_the_score() -> None:
    one = scored(Edit("app/pay.py", added=["    total = fetch(order)", "    total = total + 1"]))
    many = scored(Edit("app/pay.py", added=["    total = fetch(order)", "    log(audit(total))"]))
    assert one.features["calls"] == 1
    assert many.features["calls"] == 3
    assert many.score > one.score
    assert any("3 functions called on added lines" in r for r in many.reasons)


def test_a_changed_signature_is_a_changed_contract() -> None:
    body = scored(
        Edit("lib/client.py", removed=["    return get(url)"], added=["    return get(url, 5)"])
    )
    signature = scored(
        Edit(
            "lib/client.py",
            removed=["def _fetch(url):"],
            added=["def _fetch(url, timeout=5):"],
        )
    )
    assert body.features["signatures"] == 0
    assert signature.features["signatures"] == 1
    assert signature.score > body.score
    assert any("1 definition whose signature changed" in r for r in signature.reasons)


def test_names_and_calls_in_tests_are_the_tests_not_the_change() -> None:
    fix = Edit("app/pay.py", removed=["    total = price"], added=["    total = price + fee"])
    tests = Edit(
        "tests/test_pay.py",
        added=[f"    assert compute_{i}(order_{i}) == expected_{i}" for i in range(12)],
    )
    alone, with_tests = scored(fix), scored(fix, tests)
    assert with_tests.features["names"] == alone.features["names"]
    assert with_tests.features["calls"] == alone.features["calls"]
    assert with_tests.features["test_lines"] == 12
    assert with_tests.features["source_lines"] == 2


def test_a_change_that_is_mostly_tests_scores_lower_and_says_why() -> None:
    fix = Edit(
        "app/pay.py",
        removed=["    if price:", "        total = price"],
        added=["    if price is not None:", "        total = round(price, 2) + fee"],
    )
    tests = Edit("tests/test_pay.py", added=[f"    assert pay({i}) == {i + 1}" for i in range(6)])
    alone, with_tests = scored(fix), scored(fix, tests)
    assert with_tests.features["test_share"] == 0.6
    assert with_tests.score < alone.score
    share = "tests are 60% of the changed lines (\u2212"
    assert any(r.startswith(share) for r in with_tests.reasons)


def test_the_score_is_the_sum_of_the_points_its_reasons_give() -> None:
    result = scored(
        Edit("app/migrations/0042_add_index.py", added=code_lines(6)),
        Edit("billing/invoice.py", added=code_lines(5, "amount")),
        Edit("tests/test_invoice.py", added=code_lines(4, "case")),
    )
    points = [
        int(reason.rsplit("(", 1)[1].rstrip(")").replace("\u2212", "-"))
        for reason in result.reasons
        if reason.endswith(")") and "(" in reason
    ]
    assert result.reasons[0].startswith("edits a database migration or schema (+")
    assert abs(sum(points) - result.score) <= len(points)  # each shown part is rounded
    assert result.score < 100


def test_parts_that_take_points_away_are_ordered_by_their_size_too() -> None:
    fix = Edit("app/pay.py", removed=["    total = price"], added=["    total = price + fee"])
    tests = Edit("tests/test_pay.py", added=code_lines(60, "case"))
    result = scored(fix, tests)
    points = [
        abs(int(r.rsplit("(", 1)[1].rstrip(")").replace("\u2212", "-")))
        for r in result.reasons
        if r.endswith(")") and not r.startswith("a one-line fix")
    ]
    assert points == sorted(points, reverse=True)
    assert any(r.startswith("tests are 97% of the changed lines") for r in result.reasons[:3])


def test_spread_and_risk_keep_their_earlier_share_of_the_size_weight() -> None:
    assert RISK_POINTS["migration"] == round(1.2 * FITTED_POINTS["size"], 1)
    assert FITTED_POINTS["tests"] < 0 < min(v for k, v in FITTED_POINTS.items() if k != "tests")


def test_a_one_line_fix_is_capped_below_the_threshold_whatever_its_tests() -> None:
    fix = Edit(
        "astropy/io/fits/fitsrec.py",
        removed=["    output_field.replace(encode_ascii('E'), encode_ascii('D'))"],
        added=["    output_field[:] = output_field.replace(b'E', b'D')"],
    )
    tests = Edit("astropy/io/fits/tests/test_checksum.py", added=code_lines(80, "check"))
    result = scored(fix, tests)
    assert "one-line-fix" in result.patterns
    assert result.score <= 25
    assert result.reasons[0] == "a one-line fix (besides tests and docs): scored at most 25"


def test_a_one_line_change_to_a_risky_area_or_two_lines_is_not_a_one_line_fix() -> None:
    risky = scored(
        Edit("app/views.py", removed=["    ok = True"], added=["    ok = check_password(u, p)"])
    )
    two = scored(Edit("app/views.py", removed=["    a = 1"], added=["    a = 2", "    b = a"]))
    assert "auth" in risky.risks
    assert "one-line-fix" not in risky.patterns
    assert "one-line-fix" not in two.patterns


# --- properties ------------------------------------------------------------------------------

_names = st.from_regex(r"[a-z]{3,8}", fullmatch=True)
_code = st.lists(
    st.from_regex(r"    [a-z_]{1,10}( = | == | and | or )?[a-z_(), ]{0,30}", fullmatch=True),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(st.tuples(_names, _code), min_size=1, max_size=4, unique_by=lambda t: t[0]),
    extra=_code,
)
def test_adding_changes_in_a_new_area_never_lowers_the_score(
    base: list[tuple[str, list[str]]], extra: list[str]
) -> None:
    edits = [Edit(f"{area}/module.py", added=lines) for area, lines in base]
    before = scored(*edits)
    after = scored(*edits, Edit("brandnewarea/feature.py", added=extra))
    assert after.score >= before.score


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=1, max_value=300))
def test_a_docs_change_never_scores_above_a_code_change_of_the_same_size(n: int) -> None:
    docs = scored(Edit("docs/guide.rst", added=prose_lines(n)))
    code = scored(Edit("app/engine.py", added=code_lines(n)))
    assert docs.score <= code.score


@settings(max_examples=60, deadline=None)
@given(files=st.lists(st.tuples(_names, _code, _code), min_size=1, max_size=6))
def test_score_is_always_between_0_and_100(files: list[tuple[str, list[str], list[str]]]) -> None:
    edits = [Edit(f"{name}/{i}.py", added=a, removed=r) for i, (name, a, r) in enumerate(files)]
    assert 0 <= scored(*edits).score <= 100


def test_auth_in_a_path_is_a_risk_but_author_is_not() -> None:
    assert "auth" in scored(Edit("app/auth/views.py", added=["x = 1"])).risks
    assert "auth" not in scored(Edit("app/author.py", added=["x = 1"])).risks


def test_config_and_ci_files_are_neither_areas_nor_languages() -> None:
    result = scored(
        Edit("flask/app.py", added=code_lines(5)),
        Edit(".github/workflows/tests.yml", added=["  python: 3.12"]),
        Edit("tox.ini", added=["envlist = py312"]),
        Edit("requirements/dev.txt", added=["pytest==9.0"]),
    )
    assert result.features["areas"] == ["flask/"]
    assert result.features["languages"] == ["Python"]
    assert "ci" in result.risks
