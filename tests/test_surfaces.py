"""Every registered tool reaches every surface: one parametrized test per surface, over ``tools.registry.TOOLS``.

A new tool is one package (its ``spec.py`` declares the surfaces) plus one line in ``TOOLS``. These tests fail, naming
the tool and the surface, when a declaration is missing or does not fit what the surface needs.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

import pytest

from tools.recommend import MethodName
from tools.refute.models import CHECK_NAMES, TargetTool
from tools.registry import TOOLS, auto_battery, estimators, get_tool, tool_for_design
from tools.spec import ToolSpec

ROOT = Path(__file__).resolve().parents[1]
SPECS = {spec.name: spec for spec in TOOLS}
NAMES = list(SPECS)


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_pinned(name: str) -> None:
    assert (ROOT / "tests" / "fixtures" / "schemas" / f"{name}.json").exists(), (
        f"{name}: pin its schema (WHYSCOPE_UPDATE_SCHEMAS=1 python3 dev.py test tests/assistant/test_schemas.py)"
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_command_line_and_dispatcher_find_it(name: str) -> None:
    spec = get_tool(name)
    assert spec is SPECS[name]
    assert spec.description.strip(), f"{name}: the request model's docstring is the description the model reads"
    assert callable(spec.function), f"{name}: its implementation path does not load"


@pytest.mark.parametrize("name", NAMES)
def test_recommend_method_maps_its_designs(name: str) -> None:
    spec = SPECS[name]
    designs = set(get_args(MethodName))
    assert set(spec.designs) <= designs, f"{name}: designs {set(spec.designs) - designs} are not recommend_method's"
    for design in spec.designs:
        assert tool_for_design(design) == name, f"{design} is claimed by two tools"
    if spec.estimates:
        assert spec.designs, f"{name} estimates an effect: name the recommend_method design(s) it runs"


@pytest.mark.parametrize("name", NAMES)
def test_the_conversation_can_offer_it(name: str) -> None:
    from assistant.agent.toolsets import offered

    spec = SPECS[name]
    if spec.offer == "mentioned":
        assert spec.mentions, f"{name}: offered once mentioned, but has no mention words"
        for word in spec.mentions:
            assert word == word.lower(), f"{name}: mention '{word}' must be lower case"
            said = [{"role": "user", "content": f"We think {word} is what we need."}]
            assert name in offered(said, NAMES), f"{name}: saying '{word}' does not offer it"
    elif spec.offer == "always":
        assert name in offered([{"role": "user", "content": "hello"}], NAMES)
    else:  # after an analysis: any estimator in the conversation brings it in
        for estimator in estimators():  # a run, not a mere call: a refused call opens no gate
            ran = [SimpleNamespace(name=estimator.name, outcome=None)]
            if estimator.offer != "always":
                assert name in offered([], NAMES, ran), f"{name} is not offered after {estimator.name}"


@pytest.mark.parametrize("name", NAMES)
def test_the_guided_mode_runs_it_or_says_why_not(name: str) -> None:
    from assistant.agent.guided_analysis import ANALYSES, analysis_for

    spec = SPECS[name]
    if spec.guide is None:
        assert len(spec.no_guide) > 40, f"{name}: no guide, so say in `no_guide` why the guided mode does not run it"
        assert name not in ANALYSES
        return
    guide = spec.guide
    assert ANALYSES[name].guide is guide
    for design in spec.designs:
        assert analysis_for(design) is not None, f"{name}: the guided mode cannot run design {design}"
    assert guide.required, f"{name}: a guide needs at least one required role"
    assert set(guide.lists) <= set(guide.roles) and set(guide.defaults) <= set(guide.roles)
    assert all(set(group) <= set(guide.roles) for group in guide.one_of)
    # Every role given "1" (a column named 1, a cutoff of 1): the builder's request must be one the tool accepts.
    roles = {role: ["1"] if role in guide.lists else "1" for role in guide.roles}
    spec.request.model_validate(guide.build("example", roles))


@pytest.mark.parametrize("name", NAMES)
def test_refute_challenges_every_estimate(name: str) -> None:
    spec = SPECS[name]
    targets = set(get_args(TargetTool))
    if spec.battery is None:
        assert name not in targets
        if spec.plans and spec.designs:
            assert len(spec.no_battery) > 40, f"{name} estimates an effect: give it a refute battery, or say why not"
        return
    assert name in targets, f"{name}: add it to refute's TargetTool (the schema the model reads)"
    assert spec.battery.auto, f"{name}: an empty automatic battery"
    unknown = set(spec.battery.applicable) - set(CHECK_NAMES)
    assert not unknown, f"{name}: {unknown} are not refute check names"
    assert auto_battery(name) == spec.battery.auto
    from tools.refute.tool import DESIGNS, _design_class

    assert DESIGNS[name] == spec.battery.design
    design = _design_class(name)
    assert getattr(design, "tool", None) == name
    assert tuple(getattr(design, "applicable", ())) == spec.battery.applicable


@pytest.mark.parametrize("name", NAMES)
def test_its_figure_is_drawn_in_the_app_and_as_png(name: str) -> None:
    from assistant.figures import FIGURES
    from assistant.tui.widgets.plot import DRAWERS

    result = SPECS[name].result
    for field in (*result.plot_fields, *result.legacy_fields):
        assert field in result.model_fields or field in result.model_computed_fields, f"{name}: no field {field}"
    if result.figure is None:
        assert not result.plot_fields, f"{name}: plot_fields without a figure"
        return
    assert result.figure in DRAWERS, f"{name}: no drawer for figure '{result.figure}' in tui/widgets/plot.py"
    assert result.figure in FIGURES, f"{name}: no PNG drawer for figure '{result.figure}' in assistant/figures.py"


@pytest.mark.parametrize("name", NAMES)
def test_the_pre_registration_plans_it(name: str) -> None:
    from assistant.prereg.plans import PLANS
    from assistant.prereg.tool import ANALYSIS_TOOLS

    spec = SPECS[name]
    if not spec.plans:
        assert name not in PLANS and name not in ANALYSIS_TOOLS
        assert not spec.estimates, f"{name} estimates an effect: give it a pre-registration plan (plans=True)"
        return
    plan = PLANS[name]
    assert name in ANALYSIS_TOOLS
    missing = set(spec.request.model_fields) - set(plan.model_fields)
    assert not missing, f"{name}: the plan has no field for {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_the_readme_documents_it(name: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^### `{re.escape(name)}`", readme, re.M), f"README.md has no '### `{name}`' section"


@pytest.mark.parametrize("name", [spec.name for spec in TOOLS if spec.follows])
def test_a_follow_up_follows_guided_analyses(name: str) -> None:
    from assistant.agent.guided_analysis import ANALYSES

    spec = SPECS[name]
    assert spec.guide is not None, f"{name}: a follow-up runs in the guided mode, so it needs a guide"
    for tool in spec.follows:
        assert tool in ANALYSES, f"{name} follows {tool}, which the guided mode does not run"


def test_every_spec_is_a_tool_spec_with_a_unique_name() -> None:
    assert all(isinstance(spec, ToolSpec) for spec in TOOLS)
    assert len(SPECS) == len(TOOLS)
