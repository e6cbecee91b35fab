"""Claims checked like numbers: the words in the assistant's answer that assert a finding must be backed by a tool
result of this session, as its numbers are (:mod:`assistant.agent.provenance`).

A small model asked "did checkout conversion go up?" may answer "Yes, checkout conversion went up." without calling
a tool: every number check passes (there is no number), and the user reads a finding nobody measured. This module
finds such claims with regular expressions and judges them against the results' own fields — never a model.

What a claim is, and what backs it (``kind``):

- **direction** ("went up", "increased", "rose", "improved", "hurt", "dropped", "lower"...): an effect estimate of the
  session with that sign and an interval that excludes 0. A change ("went up", "improved") asserts an effect, so an
  estimate whose interval includes 0 does not back it ("overstated": flagged as contradicted); a comparison
  ("higher", "lower") or a hedged change ("slightly", "the point estimate", "directionally", "but not significant" in
  the same sentence) needs the sign only. Valence words ("improved", "hurt", "worse") are read in the metric's good
  direction (a drop in latency is an improvement). Contradicted when every relevant estimate has the other sign with
  an interval excluding 0; unsupported when the session has no effect estimate at all.
- **significance** ("significant", "statistically significant", "detectable", "a clear effect"): a relevant estimate
  whose interval excludes 0 (for an A/B comparison, its verdict, which includes the multiple-testing correction).
- **null** ("no effect", "not significant", "inconclusive", "flat", "did not go up", "no guardrail got worse"): a
  relevant estimate whose interval includes 0 (or, for a negated direction, one that is not significantly in that
  direction); contradicted when every relevant estimate is significant.
- **causation** ("caused", "led to", "drove", "resulted in", "because of the change", "the change increased"): an
  estimating tool's result (``ToolSpec.estimates``, or refute's challenged estimate); power, recommend_method,
  metric_history, aa_test and allocate_traffic measure no effect of the change. Contradicted when every relevant
  estimate's interval includes 0.
- **decision** ("ship it", "you should ship", "roll it out", "don't ship", "roll back"): a ``decision`` field of a
  result (ab_test's overall and per-arm decisions: ship / don't ship / inconclusive / investigate / continue) that
  matches — "don't ship" and "hold off" match every decision but "ship". With no decision field in the session, an
  effect estimate decides: shipping needs a significant effect in the good direction.
- **verdict** ("robust", "trustworthy", "held up", "fragile", "failed the checks"): refute's verdict (robust /
  fragile / failed) or aa_test's (trustworthy / investigate).

Which estimates are relevant: each estimating result's headline ``effect`` and its other top-level effect estimates
(``twfe``, ``conventional``, ``level_change``, ``reduced_form``...; not the naive, OLS, placebo or first-stage ones),
and every per-metric comparison (a list item with a ``metric`` and an ``absolute`` estimate). A sentence that names
a metric (its words, stemmed: "conversion" names ``converted``) or an arm is judged against those; one that says
"guardrail" against the guardrails; otherwise against the primary estimates (the headline effects and primary
comparisons).

Not claims (never flagged): questions; conditionals and hypotheticals ("if", "whether", "unless", "would", "could",
"might", "may", "we expect", a hypothesis, a plan: anywhere before the claim in its sentence or in its clause);
reported speech ("you said", "your hypothesis"); definitions ("a significant result means"); power and sizing
sentences ("to detect a lift of", "minimum detectable", "sample size"); purposes ("to increase conversion");
statements about statistics rather than the metric ("CUPED reduced the variance"); and any sentence, clause or
claim with its nearest words that appears verbatim (modulo whitespace, case and Markdown) in a tool result's text
(the tool's own summary quoted back, as the guided mode does) or a sentence the user wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from assistant.agent.claims_evidence import Effect, Evidence, gather_evidence
from assistant.agent.claims_evidence import normal as _normal
from assistant.agent.claims_evidence import stems as _stems

__all__ = ["ClaimFlag", "Effect", "Evidence", "gather_evidence", "unsupported_claims"]


@dataclass(frozen=True)
class ClaimFlag:
    """A claim in the assistant's text that no tool result backs, or that a result contradicts."""

    text: str  # the claim's words as written, e.g. "went up", "ship it", "statistically significant"
    kind: str  # "direction" | "significance" | "causation" | "decision" | "null" | "verdict"
    problem: str  # "unsupported" (no tool result in the session backs it) | "contradicted" (a result says otherwise)
    reason: str  # one sentence for the user
    start: int
    end: int


# --- finding claims --------------------------------------------------------------------------------------------------

_UP = (
    r"went up|go(?:es)? up|gone up|going up|(?:is|are|was|were) up|increas(?:e|ed|es|ing)|an increase|rise|rose|"
    r"risen|rises|grow|grew|grown|rais(?:e|ed|es)|boost(?:ed|s)?|lifted|jump(?:ed|s)?|climb(?:ed|s)?|doubled|up by"
)
_DOWN = (
    r"went down|go(?:es)? down|gone down|going down|(?:is|are|was|were) down|decreas(?:e|ed|es|ing)|a decrease|"
    r"drop(?:s|ped)?|a drop|fall|fell|fallen|declin(?:e|ed|es)|a decline|reduc(?:e|ed|es)|a reduction|shrank|"
    r"dipped|down by|lowered"
)
_GOOD = (
    r"improv(?:ed|es|ement)|(?:performs?|performed|did|does|converts?|converted) better|"
    r"better than (?:control|baseline|before)|beat (?:the )?(?:control|baseline)|beats (?:the )?(?:control|baseline)|"
    r"outperform(?:ed|s)? (?:the )?(?:control|baseline)|"
    r"(?:(?<=checkout )|(?<=feature )|(?<=redesign )|(?<=variant )|(?<=change ))works|"
    r"helped|positive (?:effect|impact|result)|paid off|worked"
)
_BAD = (
    r"hurt|harm(?:ed|s)?|worse(?:ned)?|regressed|(?:a|any|no) regression (?:in|on|of)|"
    r"negative (?:effect|impact|result)|damag(?:ed|es)|backfired|degrad(?:ed|es|ation)"
)
_HIGHER, _LOWER = r"higher|more than (?:control|before)", r"lower(?! (?:bound|end|limit))|less than (?:control|before)"
_SIGNIFICANT = (
    r"statistically significant(?:ly)?|significant(?:ly)?(?! level| threshold)|(?<!minimum )detectable|"
    r"clear (?:effect|lift|win|improvement|increase|drop|decrease|winner)|"
    r"clearly (?:positive|negative|better|worse|higher|lower|up|down|improved|increased|decreased)|"
    r"(?:real|genuine) effect|beyond (?:noise|chance)|exclud(?:es|ed|ing) (?:0|zero)|"
    r"(?:effect|lift|difference|increase|improvement|change) (?:is|was) real"
)
_NULL = (
    r"no (?:statistically )?(?:significant |detectable |measurable |clear |real |meaningful )?"
    r"(?:effect|difference|change|impact|movement|winner)|inconclusive|"
    r"(?:stayed |was |is |basically |essentially )flat|"
    r"unchanged|no evidence|did(?:n't| not) (?:move|change)|(?:includes|contains|crosses|spans|straddles) (?:0|zero)|"
    r"indistinguishable from (?:0|zero)|null result|could be noise|within (?:the )?noise"
)
_CAUSE = (
    r"caus(?:ed|es|ing)|led to|leads to|drove|driven by|resulted in|results in|attributable to|"
    r"(?:because of|thanks to|due to) (?:the|this|our) (?:change|feature|new|test|treatment|redesign|launch|rollout|"
    r"intervention|variant|update)|"
    r"(?:the|this|our) (?:new )?(?:change|feature|redesign|treatment|variant|intervention|launch|rollout|programm?e?|"
    r"campaign|update|version|flow|checkout|design|policy|law|incentive|training|paywall|assistant)"
    r"(?= (?:\w+ly )?(?:increased|raised|boosted|improved|reduced|decreased|lowered|hurt|lifted|grew|doubled|cut))"
)
_GO = (
    r"ship(?:ping)? it|ship (?:the|this|variant|arm|treatment|version)\b|should ship|(?:recommend|suggest) "
    r"(?:shipping|launching|rolling)|go ahead|roll(?:ing)? (?:it|this|the \w+) out|roll(?:ing)? out (?:the|it|this)|"
    r"launch(?:ing)? it|keep (?:it|the (?:new )?(?:feature|change|variant|treatment|flow|design))\b(?! running)|"
    r"decision:? ship\b|is a (?:clear )?win\b"
)
_STOP_ACTION = (
    r"roll(?:ing)? (?:it |this |the \w+ )?back|revert(?:ing)? (?:it|the|this)|kill (?:it|the)|hold off|pull the plug"
)
_ROBUST = (
    r"(?<!doubly )(?<!-)robust(?! (?:standard|se\b|interval|ci\b|bias|estimat|p-value|inference|variance|confidence))"
    r"|trustworthy|held up|holds up|survived"
)
_FRAGILE = r"fragile|untrustworthy|failed (?:the|its|a|some|one|two|several|all) (?:\w+ )?(?:checks?|tests?)"

#: (pattern, kind, polarity): polarity is the sign of a direction (+1 up, -1 down), with "good"/"bad" for valence and
#: "level" for a comparison of levels; "+"/"-" for a decision (go / stop) or a verdict (holds / does not).
_PATTERNS: tuple[tuple[str, str, str], ...] = (
    (_NULL, "null", "0"),
    (_SIGNIFICANT, "significance", "+"),
    (_CAUSE, "causation", "+"),
    (_GO, "decision", "+"),
    (_STOP_ACTION, "decision", "-"),
    (_ROBUST, "verdict", "+"),
    (_FRAGILE, "verdict", "-"),
    (_UP, "direction", "up"),
    (_DOWN, "direction", "down"),
    (_GOOD, "direction", "good"),
    (_BAD, "direction", "bad"),
    (_HIGHER, "direction", "higher"),
    (_LOWER, "direction", "lower"),
)
_COMPILED = tuple((re.compile(rf"(?<![\w-])(?:{p})(?![\w])", re.I), kind, pol) for p, kind, pol in _PATTERNS)

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_CLAUSE_BREAK = re.compile(r"[,;:()\u2014\u2013]|\s-\s|\b(?:but|however|although|though|while|whereas|yet|so)\b", re.I)
_HYPOTHETICAL = re.compile(
    r"\b(?:if|whether|unless|suppose|supposing|assuming|assume|in case|once|expect(?:s|ed|ing)?|hope|hoping|"
    r"hypothes[ie]s|hypothesi[sz]e|predict(?:s|ed|ion)?|aim|goal|plan(?:s|ned)?|pre-?regist\w*|target|"
    r"h[01]|null hypothesis|want(?:s|ed)? to (?:know|see|find|learn|check)|to (?:test|check|see|find out|measure|"
    r"learn|estimate|know)|let'?s|wonder\w*|ask\w*|question)\b",
    re.I,
)
_MODAL = re.compile(r"\b(?:would|could|might|may|can|should|shall|must)\b|'d\b|\bwill (?:only|likely)\b", re.I)
_REPORTED = re.compile(
    r"\byou(?:'ve| have)? (?:said|say|mentioned|told|noted|believe|think|thought|expect|suspect|assume|feel|"
    r"claimed|asked|want)|\byour (?:hypothesis|question|claim|guess|team|belief|assumption|expectation)|"
    r"\baccording to you|\bthe (?:claim|idea|assumption|belief) that|\bthe user",
    re.I,
)
_DEFINITION = re.compile(r"\b(?:means|is defined|refers to|is called|tells you|indicates whether|would be)\b", re.I)
#: How statistics work, said in general: anywhere in the sentence.
_GENERIC = re.compile(
    r"\b(?:in general|generally|typically|usually|by definition|a sound (?:analysis|test)|by chance|under the null|"
    r"false positives?|in theory)\b",
    re.I,
)
_SIZING = re.compile(
    r"\b(?:to detect|minimum detectable|mde|(?:under|over)?powered|\d+% power|power to|sample size|units per arm|"
    r"you(?:'d| would)? need)\b",
    re.I,
)
#: Diagnostics as the subject: a significant split, placebo or pre-trend says nothing about the change's effect.
_DIAGNOSTIC = re.compile(
    r"\b(?:splits?|placebos?|a/a|simulations?|draws?|pre-?trends?|balance|covariates?|first[- ]stage|instruments?|"
    r"density|srm|sample[- ]ratio)\b",
    re.I,
)
_ALL = re.compile(r"\b(?:both|all|each|every)\b", re.I)
#: Statistics as the subject: "CUPED reduced the variance", "a lower p-value", "the interval is higher than 0".
_STATISTIC = re.compile(
    r"\b(?:variance|standard errors?|intervals?|ci|width|p-?values?|noise|uncertainty|sample|bias|precision|alpha|"
    r"bandwidth|weights?|errors?|rmspe|fit)\b",
    re.I,
)
_NEGATION = re.compile(
    r"(?:\bnot|\bno|\bnever|\bneither|\bnor|\bwithout|\bnone|n't|\bcannot|\bfail(?:ed|s)? to|\black of|"
    r"\babsence of|\bnothing)\b",
    re.I,
)
#: Words that make a change a statement about the point estimate only ("rose slightly, not significantly").
_SOFT = re.compile(
    r"\b(?:slight(?:ly)?|directional(?:ly)?|numerical(?:ly)?|nominal(?:ly)?|point estimate|a bit|appears?|seems?|"
    r"suggests?|trend(?:s|ed|ing)?|probabl[ey]|likely|hint\w*|tentative(?:ly)?|not (?:statistically )?significant\w*|"
    r"no (?:statistically )?significant|inconclusive|includes (?:0|zero)|noise|not conclusive|small|modest|"
    r"marginal(?:ly)?|insignificant)\b",
    re.I,
)


@dataclass(frozen=True)
class _Claim:
    text: str
    kind: str
    polarity: str
    start: int
    end: int
    negated: bool
    soft: bool
    sentence: str
    sentence_start: int


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for match in _SENTENCE_END.finditer(text):
        yield start, text[start : match.start()]
        start = match.end()
    if start < len(text):
        yield start, text[start:]


def _clause(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the clause of ``sentence`` that holds ``start:end``."""
    left, right = 0, len(sentence)
    for match in _CLAUSE_BREAK.finditer(sentence):
        if match.end() <= start:
            left = match.end()
        elif match.start() >= end:
            right = match.start()
            break
    return left, right


def _quoted(sentence: str, start: int, end: int, evidence: Evidence) -> bool:
    """Whether the claim stands in words the tools (or the user) wrote: the sentence, its clause, or the claim with
    its nearest words appear verbatim in a tool's text (a whole sentence of the user's)."""
    pieces = [_normal(sentence.strip().lstrip("-*>#0123456789.) ").rstrip(".!?:;"))]
    left, right = _clause(sentence, start, end)
    if right - left >= 15:
        pieces.append(_normal(sentence[left:right]).rstrip(".!?"))
    words = list(re.finditer(r"\S+", sentence))
    inside = [i for i, w in enumerate(words) if w.end() > start and w.start() < end]
    if inside:
        first, last = max(0, inside[0] - 2), min(len(words), inside[-1] + 3)
        if last - first >= 4:
            pieces.append(_normal(sentence[words[first].start() : words[last - 1].end()]).strip(".,;:!?\"'()"))
    pieces = [p for p in pieces if p]
    if any(piece in text for piece in pieces for text in evidence.tool_texts):
        return True
    whole = pieces[0] if pieces else ""
    return len(whole.split()) >= 3 and any(whole in text for text in evidence.user_texts)


#: Words in quotes: a command to type ("say 'drop NAME'"), a name or a quotation, not the assistant's own claim.
_IN_QUOTES = re.compile(
    r"(?<!\w)'[^'\n]{1,80}'(?!\w)|\"[^\"\n]{1,200}\"|`[^`\n]{1,200}`|\u201c[^\u201d\n]{1,200}\u201d"
    r"|\u2018[^\u2019\n]{1,80}\u2019(?!\w)"
)


def _not_a_claim(claim: _Claim, evidence: Evidence) -> bool:
    """A question, a hypothetical, reported speech, a definition, a sizing sentence, words in quotes, or the tools'
    own words."""
    sentence, start, end = claim.sentence, claim.start - claim.sentence_start, claim.end - claim.sentence_start
    if any(m.start() < start and end < m.end() for m in _IN_QUOTES.finditer(sentence)):
        return True
    if sentence.rstrip(" *_)\"'").endswith("?"):
        return True
    left, right = _clause(sentence, start, end)
    before, clause = sentence[:start], sentence[left:right]
    if _HYPOTHETICAL.search(before) or _HYPOTHETICAL.search(clause):
        return True
    if _REPORTED.search(before) or _DEFINITION.search(clause) or _GENERIC.search(sentence) or _SIZING.search(sentence):
        return True
    after = " ".join(sentence[end:right].split()[:1])  # "a real increase would show up"
    modal = _MODAL.search(sentence[left:start]) or (_MODAL.search(after) if claim.kind != "decision" else None)
    if modal and not (claim.kind == "decision" and modal.group(0).lower() in ("should", "must")):
        return True
    if re.search(r"\bto\s+$", sentence[max(left, start - 4) : start], re.I):  # a purpose: "to increase conversion"
        return True
    if claim.kind == "direction" and _STATISTIC.search(sentence[left:start]):
        return True
    if claim.kind in ("direction", "significance", "null") and _DIAGNOSTIC.search(clause):
        return True
    return _quoted(sentence, start, end, evidence)


def find_claims(text: str) -> list[_Claim]:
    """Every claim-like phrase in ``text`` (before deciding which are claims): longest first where they overlap."""
    found: list[_Claim] = []
    for offset, sentence in _sentences(text):
        matches = [(m, kind, pol) for regex, kind, pol in _COMPILED for m in regex.finditer(sentence)]
        matches.sort(key=lambda item: (item[0].start(), -(item[0].end() - item[0].start())))
        taken: list[tuple[int, int]] = []
        for match, kind, polarity in matches:
            if any(match.start() < e and s < match.end() for s, e in taken):
                continue
            taken.append((match.start(), match.end()))
            left, _ = _clause(sentence, match.start(), match.end())
            window = " ".join(sentence[left : match.start()].split()[-4:])
            negated = bool(_NEGATION.search(window)) or bool(_NEGATION.match(match.group(0)))
            found.append(
                _Claim(
                    text=match.group(0),
                    kind=kind,
                    polarity=polarity,
                    start=offset + match.start(),
                    end=offset + match.end(),
                    negated=negated,
                    soft=bool(_SOFT.search(sentence)),
                    sentence=sentence,
                    sentence_start=offset,
                )
            )
    return found


# --- judging claims --------------------------------------------------------------------------------------------------


def _names_arm(arm: str, sentence: str) -> bool:
    """Whether ``sentence`` names the arm: its label as a word; a one-letter label (B) in capitals, or after "arm",
    "variant" or "version" (A and I are words too)."""
    if len(arm) > 1:
        return re.search(rf"(?<![\w-]){re.escape(arm)}(?![\w-])", sentence, re.I) is not None
    if arm.isupper() and arm not in ("A", "I") and re.search(rf"(?<![\w'-]){re.escape(arm)}(?![\w'-])", sentence):
        return True
    return re.search(rf"\b(?:arm|variant|version|group) {re.escape(arm)}\b", sentence, re.I) is not None


def _relevant(effects: tuple[Effect, ...], sentence: str) -> tuple[list[Effect], bool]:
    """The effects a sentence speaks of: by the metric (or arm) it names, the guardrails, else the primary ones; and
    whether it speaks of each of several ("both conversion and revenue", "all arms")."""
    chosen = list(effects)
    if re.search(r"\bguardrails?\b", sentence, re.I):
        chosen = [e for e in chosen if e.role == "guardrail"] or chosen
    stems = _stems(sentence)
    named = [e for e in chosen if e.words & stems]
    if named:
        chosen = named
    arms = {e.arm for e in chosen if e.arm}
    said_arms: set[str] = set()
    if len(arms) > 1:
        said_arms = {arm for arm in arms if _names_arm(arm, sentence)}
        chosen = [e for e in chosen if e.arm in said_arms] or chosen
    if not named and not said_arms:
        chosen = [e for e in chosen if e.primary] or chosen
    subjects = {(e.label.split(" in ")[0], e.arm) for e in chosen}
    return chosen, bool(_ALL.search(sentence)) and len(subjects) > 1


def _nothing_measured(evidence: Evidence, what: str = "measured an effect") -> str:
    ran = (
        f" (only {', '.join(evidence.planning)} ran, which measure nothing about the change)"
        if evidence.planning
        else ""
    )
    return f"no tool result in this session {what}{ran}"


def _describe(effect: Effect) -> str:
    side = "excludes" if effect.significant else "includes"
    return f"{effect.tool}'s estimate for {effect.label} is {effect.shown()} and its {effect.interval()} {side} 0"


def _judge(claim: _Claim, evidence: Evidence) -> tuple[str, str] | None:
    """(problem, reason) when the claim is not backed, None when it is."""
    kind, polarity = claim.kind, claim.polarity
    if kind == "decision":
        return _judge_decision(claim, evidence)
    if kind == "verdict":
        return _judge_verdict(claim, evidence)
    if kind == "causation":
        if claim.negated:
            return None  # "did not cause", "cannot say it caused": caution, never an overclaim
        if not evidence.estimating:
            return "unsupported", _nothing_measured(evidence, "estimated an effect of the change")
        relevant, _ = _relevant(evidence.effects, claim.sentence)
        if not claim.soft and relevant and not any(e.significant for e in relevant):
            return "contradicted", _describe(relevant[0]) + ": no effect was detected to attribute"
        return None
    if not evidence.effects:
        return "unsupported", _nothing_measured(evidence)
    relevant, every = _relevant(evidence.effects, claim.sentence)
    if kind == "significance":
        if claim.negated:
            return _judge_null(claim, relevant, evidence, sign=0)
        missing = [e for e in relevant if not e.significant]
        if len(missing) < len(relevant) and not (every and missing):
            return None
        return "contradicted", _describe(missing[0])
    if kind == "null":
        return _judge_null(claim, relevant, evidence, sign=0)
    # direction
    sign = 1 if polarity in ("up", "good", "higher") else -1
    valence = polarity in ("good", "bad")
    if claim.negated:
        return _judge_null(claim, relevant, evidence, sign=sign, valence=valence)

    def signed(e: Effect) -> float:
        return e.estimate * (e.good if valence else 1)

    matching = [e for e in relevant if signed(e) * sign > 0]
    if every and len(matching) < len(relevant):  # "both arms went up": each must
        other = next(e for e in relevant if e not in matching)
        return "contradicted", _describe(other)
    if any(e.significant for e in matching) and not (every and not all(e.significant for e in matching)):
        return None
    opposite = [e for e in relevant if e.significant and signed(e) * sign < 0]
    if opposite:
        return "contradicted", _describe(opposite[0])
    level = polarity in ("higher", "lower") or claim.soft
    if level and matching:
        return None
    if matching:  # the right sign, but no detectable change: "went up" overstates it
        return "contradicted", _describe(matching[0]) + ", so no change was detected"
    return "contradicted", _describe(relevant[0])


def _judge_null(
    claim: _Claim, relevant: list[Effect], evidence: Evidence, *, sign: int, valence: bool = False
) -> tuple[str, str] | None:
    """A claim of no effect (or of no change in one direction, ``sign``): backed unless every relevant estimate is
    significant (in that direction)."""
    if not evidence.effects:
        if claim.text.lower() == "inconclusive" and any(r.value == "inconclusive" for r in evidence.decisions):
            return None
        return "unsupported", _nothing_measured(evidence)

    def against(e: Effect) -> bool:
        moved = e.estimate * (e.good if valence else 1)
        return e.significant and (sign == 0 or moved * sign > 0)

    if all(against(e) for e in relevant):
        return "contradicted", _describe(relevant[0])
    return None


def _judge_decision(claim: _Claim, evidence: Evidence) -> tuple[str, str] | None:
    go = (claim.polarity == "+") != claim.negated
    decisions = list(evidence.decisions)
    arms = {r.arm for r in decisions if r.arm}
    if len(arms) > 1:
        said = [r for r in decisions if r.arm and re.search(rf"\b{re.escape(r.arm)}\b", claim.sentence, re.I)]
        decisions = said or [r for r in decisions if r.arm is None] or decisions
    if decisions:
        backed = [r for r in decisions if (r.value == "ship") == go]
        if backed:
            return None
        shown = ", ".join(sorted({f"'{r.value}'" for r in decisions}))
        return "contradicted", f"{decisions[0].tool}'s decision is {shown}"
    if not evidence.effects:
        return "unsupported", _nothing_measured(evidence, "made or backs a decision")
    relevant, _ = _relevant(evidence.effects, claim.sentence)
    good = [e for e in relevant if e.significant and e.estimate * e.good > 0]
    if go and not good:
        return "contradicted", _describe(relevant[0]) + ": no improvement was detected to ship on"
    if not go and good and len(good) == len(relevant):
        return "contradicted", _describe(good[0]) + " in the good direction"
    return None


def _judge_verdict(claim: _Claim, evidence: Evidence) -> tuple[str, str] | None:
    holds = (claim.polarity == "+") != claim.negated
    if not evidence.verdicts:
        return "unsupported", "no robustness check (refute) or A/A test ran in this session"
    backed = [r for r in evidence.verdicts if (r.value in ("robust", "trustworthy")) == holds]
    if backed:
        return None
    last = evidence.verdicts[-1]
    return "contradicted", f"{last.tool}'s verdict is '{last.value}'"


_EFFECT_KINDS = ("direction", "significance", "null")
#: Within a sentence, the most specific claim about the effect is judged first: "a significant increase" is judged
#: as significance, and then not again as a direction.
_ORDER = {"null": 0, "significance": 1, "direction": 2}


def unsupported_claims(text: str, sources: Iterable[Any]) -> list[ClaimFlag]:
    """The claims in ``text`` that no tool result in ``sources`` backs, or that one contradicts (the same sources
    provenance reads: tool results, tools' errors, plain dicts of the state tools, and the user's messages)."""
    evidence = gather_evidence(sources)
    flags: list[ClaimFlag] = []
    flagged: set[tuple[int, str]] = set()
    for claim in sorted(find_claims(text), key=lambda c: (c.sentence_start, _ORDER.get(c.kind, 3), c.start)):
        if (claim.sentence_start, claim.kind) in flagged or _not_a_claim(claim, evidence):
            continue
        judged = _judge(claim, evidence)
        if judged is None:
            continue
        problem, reason = judged
        kind = "null" if claim.negated and claim.kind in ("direction", "significance") else claim.kind
        flagged.add((claim.sentence_start, claim.kind))
        if claim.kind in _EFFECT_KINDS:  # one flag per sentence for what it says about the effect
            flagged.update((claim.sentence_start, other) for other in _EFFECT_KINDS)
        flags.append(ClaimFlag(claim.text, kind, problem, reason, claim.start, claim.end))
    return sorted(flags, key=lambda flag: flag.start)
