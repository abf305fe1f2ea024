import pytest

from postpulse.policy.templates import TemplateError, render, variables


def test_render_and_variables():
    t = "Hi {{ first_name }}, thanks for the {{ thing | default('comment') }}!"
    assert variables(t) == {"first_name", "thing"}
    assert render(t, {"first_name": "Ana"}) == "Hi Ana, thanks for the comment!"
    assert render(t, {"first_name": "Ana", "thing": "like"}) == "Hi Ana, thanks for the like!"
    assert render("no vars {single} braces", {}) == "no vars {single} braces"


def test_missing_variable_names_variable_and_template():
    with pytest.raises(TemplateError) as info:
        render("Hi {{ first_name }} from {{ brand }}", {"first_name": "Ana"}, name="tpl-welcome")
    assert info.value.variable == "brand"
    assert "'brand'" in str(info.value) and "tpl-welcome" in str(info.value)


def test_missing_variable_in_condition_and_filter():
    with pytest.raises(TemplateError, match="'vip'"):
        render("{% if vip %}VIP{% endif %}", {})
    with pytest.raises(TemplateError, match="'name'"):
        render("{{ name | upper }}", {})


def test_syntax_error_and_sandbox():
    with pytest.raises(TemplateError, match="syntax error on line 2"):
        render("ok\n{{ broken", {}, name="t")
    with pytest.raises(TemplateError, match="not allowed|unsafe"):
        render("{{ ''.__class__.__mro__ }}", {})
    with pytest.raises(TemplateError, match="limit"):
        render("{{ x * 100000 }}", {"x": "ab"})


def test_no_html_escaping():
    assert render("{{ a }}", {"a": "<3 & more"}) == "<3 & more"
