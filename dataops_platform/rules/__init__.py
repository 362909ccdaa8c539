"""The 13 consistency rules of SPEC §11: pure functions over the artifacts, shared by the asset
checks and the test report so the two can never disagree."""

from dataops_platform.rules import checks  # noqa: F401 - importing registers the 13 rules
from dataops_platform.rules.registry import RULES, Rule, RuleResult, evaluate

__all__ = ["RULES", "Rule", "RuleResult", "evaluate"]
