"""``whyscope eval``: which model is good enough? Scenario files, a deterministic simulated user, a runner that
drives the conversation engine with any backend (the guided mode, or a model behind an OpenAI-compatible endpoint)
and a score per scenario: scoping completeness, design, tool calls, provenance and claims, turns, tokens and time.

See :mod:`assistant.eval.scenario` for the file format and :mod:`assistant.eval.runner` for what is scored."""

from __future__ import annotations

from assistant.eval.runner import ScenarioScore, run_scenario, run_suite
from assistant.eval.scenario import Scenario, load_scenario, load_scenarios

__all__ = ["Scenario", "ScenarioScore", "load_scenario", "load_scenarios", "run_scenario", "run_suite"]
