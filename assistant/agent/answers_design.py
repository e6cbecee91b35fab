"""The guided mode's readers for the design questions: how units get the change (recommend_method's assignment)
and whether the primary metric is a rate or an average.

An assignment is read from plain words ("states adopted it in different years", "vote share above 50% decides who
wins", "users who pass 10 credits see it"), with typos corrected on the words it keys on, negations understood
("not by a cutoff, region by region") and several cues weighed (the more specific one wins: "a random half got an
invitation" is a nudge; two that conflict are asked about). Never a guess: what it cannot read is ``unclear``, with
the choices to offer by number. Standard library only.
"""

from __future__ import annotations

import re
from typing import Literal

from assistant.agent.answers import OFF_SCRIPT, Reading, any_of, blank_out, correct_typos, normalize, off_script

__all__ = ["ASSIGNMENT_CHOICES", "Assignment", "Metric", "read_assignment", "read_metric_kind"]

Assignment = Literal[
    "random", "cutoff", "rollout_by_group_over_time", "all_at_once", "self_selected", "single_unit", "instrument"
]
Metric = Literal["proportion", "mean"]


# -- how units get the change ---------------------------------------------------------------------------------

#: The assignments offered, in the order of the numbered list, with their words for the user.
ASSIGNMENT_CHOICES: tuple[tuple[Assignment, str], ...] = (
    ("cutoff", "by a score cutoff: a threshold on a score, an amount or an age decides"),
    (
        "rollout_by_group_over_time",
        "group by group over time: regions, markets or teams switched on at different dates",
    ),
    ("all_at_once", "everyone at once, on the same date"),
    ("self_selected", "by choice: users opt in, or someone picked who gets it"),
    ("single_unit", "in a single market, country or unit only"),
    ("instrument", "through a randomized nudge, such as an invitation sent to a random half"),
    ("random", "at random: it already ran as an experiment"),
)
_GROUPS = (
    r"regions?|markets?|states?|countr(?:y|ies)|cit(?:y|ies)|teams?|stores?|schools?|districts?|count(?:y|ies)"
    r"|provinces?|sites?|offices?|branch(?:es)?|departments?|clinics?|hospitals?|cohorts?|waves?|batch(?:es)?"
    r"|groups?|locations?|warehouses?|campus(?:es)?|territor(?:y|ies)|areas?|zones?|units?|segments?|tenants?"
    r"|organi[sz]ations?|orgs?|companies|customers? segments?|municipalit(?:y|ies)|villages?|towns?|plants?"
    r"|divisions?|franchises?|dealers?|partners?|clients?|accounts?|servers?|data ?centers?|languages?|platforms?"
)
_TIME_UNITS = r"(?:days?|weeks?|months?|years?|quarters?|hours?|minutes?|decades?)"
_NUMBER_AHEAD = rf"(?:a |an |the )?[$€£]?\d[\d,.]*+(?!\s*{_TIME_UNITS}\b)"
#: Who a change can be for: "new users only" restricts the population, it does not name a place.
_PEOPLE = (
    r"(?:users|customers|members|people|accounts|subscribers|employees|agents|sellers|buyers|students|patients"
    r"|drivers|riders|players|visitors|new|premium|paying|enterprise|beta|mobile|ios|android|web|desktop|admins|teams"
    r"|internal|staff|adults|women|men|kids|free|trial|existing|returning|power|pro)"
)
#: A place named after "only in": not a part of the product, a number or a vague quantity.
_PLACE = (
    r"(?!(?:the )?(?:app|apps|web|website|mobile|ios|android|desktop|beta|product|version|checkout|settings|english"
    r"|production|staging|some|a few|several|certain|selected|those|most|many|our|their|a|an|part|parts|theory"
    r"|practice|time|general|principle|test|testing|order|case|cases|rare|which|what|this|that|these)\b)(?!\d)[a-z]+"
)
_CUES: dict[Assignment, re.Pattern[str]] = {
    "cutoff": any_of(
        [
            r"\bcut ?-?offs?\b",
            r"\bthresholds?\b",
            r"\bscores?\b",
            r"\bcredit (?:score|rating)\b",
            rf"\b(?:above|below|over|under|more than|less than|at least|at most|greater than|fewer than|higher than"
            rf"|lower than|exceed\w*|pass(?:es|ed|ing)?|reach(?:es|ed|ing)?|hit(?:s|ting)?|cross(?:es|ed|ing)?"
            rf"|beyond|surpass\w*|past|over the|under the) {_NUMBER_AHEAD}",
            r"\d[\d,.]*\s*(?:%|points?|credits?|dollars?)?\s*(?:\+|or (?:more|higher|above|over|less|lower|below"
            r"|fewer|under|greater))",
            r"[<>≥≤]=?\s*[$€£]?\d",
            r"\b(?:eligib\w+|qualif\w+) (?:if|when|once|by|only if|above|below)\b",
            r"\bminimum (?:score|age|balance|spend|amount|income|usage)\b",
            r"\bmeans[- ]test\w*",
            r"\bpoverty line\b",
            r"\bincome (?:limit|line|cap|threshold)\b",
            r"\bage (?:limit|cutoff)\b",
            r"\b(?:decides|determines|decided|determined) who (?:wins|won|gets|got|qualifies|is eligible)\b",
            r"\b(?:narrow|winning|vote|victory) margins?\b",
            r"\bmargins? of (?:victory|votes?|the vote)\b",
            rf"\b(?:kicks? in|starts?|triggers?|unlocks?|applies|activates?|begins?) (?:at|once|after|from|above|below"
            rf"|over|under) {_NUMBER_AHEAD}",
            r"\bclose (?:elections?|races?|votes?)\b",
            r"\b(?:wins?|won|winning) (?:the |an )?(?:elections?|vote|seat|race)\b",
            r"\bvote share\b",
            r"\bwhoever (?:gets|has|wins|scores) (?:more|most|the most|a majority)\b",
            r"\bmore votes\b",
            r"\bmajority\b",
            r"\b(?:top|bottom) \d+\s*%?",
            r"\b(?:aged?|age of|turn(?:ed|s|ing)?) \d+",
            r"\bbased on (?:a |their |the |its )?(?:score|rating|rank\w*|index|grade|test result)\b",
            r"\bscor(?:ed|ing) (?:above|below|over|under)\b",
            r"\bline in the sand\b",
            r"\bbracket\b",
            r"\bcap\b",
            r"\bhigher than a\b|\blower than a\b",
        ]
    ),
    "rollout_by_group_over_time": any_of(
        [
            r"\b(?:different|various|separate|successive|varying|staggered|their own|its own) (?:years?|dates?|times?"
            r"|months?|weeks?|days?|quarters?|points in time|moments?|speeds?|pace)\b",
            r"\bstagger\w*",
            r"\bphased?\b|\bphasing\b|\bin phases\b",
            r"\bin (?:stages|waves|batches|steps|tranches|cohorts|rounds)\b",
            r"\bwaves?\b",
            r"\bgradual(?:ly)?\b",
            r"\bprogressive(?:ly)?\b",
            r"\bincremental(?:ly)?\b",
            r"\bstep by step\b",
            r"\bone (?:\w+ )?(?:at a time|after (?:another|the other)|by one)\b",
            rf"\b(?:{_GROUPS}) (?:\w+ )?(?:decided|chose|picked|choose|decide|decides|set|sets|chooses) when\b",
            r"\bover time\b",
            r"\bover (?:the |several |many |a few |multiple |two |three |some )?(?:years|months|weeks|quarters"
            r"|decades)\b",
            r"\b(?:rolled|rolling|roll|rolls) ?(?:it |them )?out (?:gradually|slowly|progressively|over|by|across"
            r"|one|in|region|market|country|state|city|team|store)",
            r"\bramp(?:ed|ing)? (?:it )?up\b",
            rf"\b(?P<group>{_GROUPS}) (?:by|after) (?P=group)\b",
            r"\b(?:region|market|state|country|city|team|store|school|site|office|branch|group|wave|batch|cohort)"
            r"[- ]by[- ](?:region|market|state|country|city|team|store|school|site|office|branch|group|wave|batch"
            r"|cohort)\b",
            rf"\b(?:by|per|each|every) (?:{_GROUPS}) (?:at|over|in turn|on (?:its|their) own (?:date|schedule|time))",
            r"\bsome\b[^.;]*\b(?:first|earlier|sooner)\b",
            r"\b(?:others|the rest|rest|remaining \w+)\b[^.;]*\b(?:later|after(?:wards)?|next|follow\w*)\b",
            r"\b(?:later|earlier) than (?:others|the rest|other \w+)\b",
            r"\bfirst\b[^.;]*\b(?:then|later|after that|next|followed by)\b",
            r"\b(?:19|20)\d\d\b[^.;]*\b(?:19|20)\d\d\b",
            rf"\b(?:{_GROUPS})\b[^.;]*\b(?:adopt\w*|pass\w*|enact\w*|launch\w*|switch\w*|join\w*|introduc\w*)\b"
            rf"[^.;]*\b(?:different|various|own|at different|over|between|from (?:19|20)\d\d)",
            rf"\bas (?:each|every) (?:{_GROUPS})\b",
            rf"\bwhen (?:each|every) (?:{_GROUPS})\b",
            r"\bstaged (?:rollout|launch|release)\b",
            r"\bcohort by cohort\b",
            r"\bone (?:region|market|state|country|city|team|store|school|site|group) then (?:another|the next)\b",
        ]
    ),
    "all_at_once": any_of(
        [
            r"\b(?:all )?at once\b",
            r"\bat the same time\b",
            r"\bsimultaneous(?:ly)?\b",
            r"\bsame (?:day|date|time|moment|week|release|hour)\b",
            r"\beveryone\b",
            r"\beverybody\b",
            r"\ball (?:of )?(?:our |the )?(?:users|customers|accounts|members|people|markets|regions|stores|agents"
            r"|employees|of them|units|sellers|buyers|subscribers|visitors|players|students|patients|clients)\b",
            r"\bevery (?:user|customer|account|one|member|market|region|store|agent|employee|single)\b",
            r"\b(?:the )?(?:whole|entire) (?:user ?base|base|country|company|population|platform|site|market"
            r"|customer base|world|team|org)\b",
            r"\bglobal(?:ly)?\b",
            r"\bworldwide\b",
            r"\bnation ?wide\b",
            r"\bcountry ?wide\b",
            r"\b(?:to|for) all\b",
            r"\bovernight\b",
            r"\bbig[- ]?bang\b",
            r"\b(?:site|company|platform|org)[- ]?wide\b",
            r"\bin one go\b",
            r"\b(?:flipped|flip) (?:a |the )?switch\b",
            r"\bhard launch\b",
            r"\b100 ?%",
            r"\bon (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d",
            r"\bon (?:the )?\d{1,2}(?:st|nd|rd|th)\b",
            r"\bon \d{1,4}[-/]\d{1,2}(?:[-/]\d{1,4})?\b",
            r"\bone (?:day|date|release)\b",
            r"\bsingle (?:day|date|release|launch)\b",
            r"\bacross the board\b",
            r"\buniversal(?:ly)?\b",
            r"\ball users got\b",
        ]
    ),
    "self_selected": any_of(
        [
            r"\bopt(?:ed|s|ing)?[- ]?(?:in|into|out)\b",
            r"\bopt-?ins?\b",
            r"\b(?:chose|choose|chooses|choosing|chosen|choice)\b",
            r"\bdecid(?:e|es|ed|ing) (?:to |whether|if)\b",
            r"\bvoluntar\w*",
            r"\bvolunteer\w*",
            r"\bself[- ]?select\w*",
            r"\bself[- ]?serve\b",
            r"\bsign(?:ed|s|ing)?[- ]?up\b",
            r"\bsignups?\b",
            r"\boptional\b",
            r"\bif they (?:want|wanted|like|liked|wish|wished)\b",
            r"\bwho (?:want|wanted|wish|wished|asked|requested|like|liked)\b",
            r"\bthemselves\b",
            r"\b(?:it's|it is|was|it was) up to (?:the )?(?:users|them|customers|each user|people)\b",
            r"\b(?:users|customers|people|they|members|agents|sellers|buyers|accounts|admins|clients|merchants)"
            r"\b[^.;,]{0,30}\b(?:turn(?:ed|s)? (?:it|this|the \w+) on|enable(?:d|s)?|switch(?:ed|es)? (?:it|this)"
            r" on|activate(?:d|s)?|install(?:ed|s)?|download(?:ed|s)?|subscribe(?:d|s)?|join(?:ed|s)?"
            r"|upgrade(?:d|s)?|request(?:ed|s)?|bought|buy|purchase(?:d|s)?|pay|paid|enrol{1,2}(?:ed|s)?"
            r"|picked|select(?:ed|s)?|decide(?:d|s)?|elect(?:ed|s)?|took it up|take it up)\b",
            r"\b(?:hand[- ]?picked|cherry[- ]?picked)\b",
            r"\b(?:we|sales|managers?|the team|account managers?|support|ops|doctors?|teachers?) (?:picked|selected"
            r"|chose|decided who|hand-picked|nominated)\b",
            r"\bon request\b",
            r"\bby request\b",
            r"\bwhoever (?:wants|wanted|asks|asked)\b",
            r"\bpower users\b[^.;]*\b(?:enable|turn|adopt|use)\w*",
            r"\bbeta (?:program|sign ?up|waitlist)\b",
            r"\bwait ?list\b",
        ]
    ),
    "single_unit": any_of(
        [
            r"\bonly (?:in |for |at |on )?(?:one|a single|1)\b(?! (?:at a time|after|by))",
            r"\b(?:one|a single|single|1|just one|only one) (?:pilot )?(?:market|country|city|region|state|store|site"
            r"|product|unit|location|branch|office|school|hospital|plant|warehouse|company|campus|province|county"
            r"|territory|area|zone|town|village|clinic|country's)\b(?! (?:at a time|after|by|then))",
            rf"\b(?:only|just|exclusively) (?:in|at) {_PLACE}",
            rf"\b(?:in|at) {_PLACE}(?: [a-z]+)? only\b",
            r"\bonly (?:in|at) (?:our|the|one|a) (?:\w+ )?(?:store|shop|site|office|branch|market|city|country|region"
            r"|location|plant|warehouse|hospital|clinic|school|campus|state)\b",
            rf"^(?:in |at )?(?:the )?(?!{_PEOPLE}\b){_PLACE}(?: [a-z]+)? only\b",
            rf"\bonly (?!{_PEOPLE}\b){_PLACE} (?:got|gets|had|has|received|receives|saw|sees|was|is|did|changed"
            rf"|changes|switched|adopted|passed|introduced|launched|moved|made)\b",
            rf"\b(?:the |all )?(?:other|remaining) (?:{_GROUPS}) (?:did not|didn't|never|kept|stayed|were not|weren't"
            rf"|did nothing|stayed put)\b",
            rf"^only (?!{_PEOPLE}\b){_PLACE}(?: [a-z]+)?[.!]?$",
            r"\bpilot(?:ed|ing)? (?:in|at)\b",
            r"\bpilot (?:market|city|site|store|country|region)\b",
            r"\bn ?= ?1\b",
            r"\bone place\b",
        ]
    ),
    "instrument": any_of(
        [
            r"\binvit(?:e|es|ed|ing|ation|ations)\b",
            r"\bnudg(?:e|es|ed|ing)\b",
            r"\bencourag\w+",
            r"\bremind(?:er|ers|ed|ing)?\b",
            r"\binstrument\w*",
            r"\brandom\w*\b[^.;]*\b(?:e-?mail\w*|letters?|sms|texts?|text messages?|push(?: notifications?)?"
            r"|notifications?|offer\w*|prompts?|messag\w*|banners?|popups?|pop-ups?|outreach|calls?|called|mail\w*)",
            r"\b(?:e-?mail\w*|letters?|sms|texts?|text messages?|push(?: notifications?)?|notifications?|offer\w*"
            r"|prompts?|messag\w*|banners?|popups?|outreach|mail\w*)\b[^.;]*\brandom\w*",
        ]
    ),
    "random": any_of(
        [
            r"\brandom\w*",
            r"\blotter(?:y|ies)\b",
            r"\bcoin (?:flip|toss)\w*",
            r"\ba/?b[- ]?test\w*",
            r"\bsplit[- ]?test\w*",
            r"\b50/50 (?:split|test)\b",
            r"\bexperiment(?:ed|s)? (?:ran|already|was run)\b",
            r"\b(?:ran|run) (?:as )?an? (?:experiment|a/b test|ab test|rct)\b",
            r"\brct\b",
            r"\bby chance\b",
            r"\bdrew (?:lots|names)\b",
        ]
    ),
}
#: An assignment said along with another that it refines: the more specific one is meant.
_REFINES: dict[Assignment, frozenset[Assignment]] = {
    "instrument": frozenset({"random", "self_selected", "all_at_once", "single_unit"}),
    "random": frozenset({"all_at_once", "self_selected"}),
    "cutoff": frozenset({"all_at_once"}),
    "rollout_by_group_over_time": frozenset({"all_at_once", "single_unit"}),
    "single_unit": frozenset({"all_at_once", "self_selected"}),
    "self_selected": frozenset({"all_at_once"}),
}
#: Where a cue's words mean something else: "we decided to launch it" is the team's decision, not a choice of
#: the units; "users who pass 10 credits" is a cutoff however it is negated.
_NOT_A_CUE: dict[Assignment, re.Pattern[str]] = {
    "self_selected": re.compile(
        r"\b(?:we|i|the company|leadership|management|product|the business|the team|the government|the state"
        r"|legislators?|congress|parliament|the board|execs?|executives)(?: \w+)? (?:chose|choose|decided|decide"
        r"|opted|opt|elected)(?: not)? to\b"
    ),
}
#: Cues that name the units' side of a cutoff: a negation there ("who don't reach 10 credits") keeps the cutoff.
_SIDE_OF_A_CUTOFF = re.compile(
    r"\b(?:above|below|over|under|more than|less than|at least|at most|greater than|fewer than|higher than"
    r"|lower than|exceed\w*|pass(?:es|ed|ing)?|reach(?:es|ed|ing)?|hit(?:s|ting)?|cross(?:es|ed|ing)?|beyond"
    r"|surpass\w*|past)\b|\bor (?:more|higher|above|over|less|lower|below|fewer|under|greater)\b|[<>≥≤]"
)
_NEGATORS = re.compile(
    r"\b(?:not|no|never|nor|neither|without|rather than|instead of|other than|not by|not through|not via)\b"
    r"|n't\b|\bnothing like\b|\bno one\b|\bnobody\b"
)
_CLAUSE = re.compile(r"[,.;:!?()]|\bbut\b|\band then\b|\bthen\b|\bso\b|\bbecause\b|\bwhich\b|\bwhile\b|\bwhereas\b")
_TYPO_KEYS = (
    "cutoff",
    "threshold",
    "staggered",
    "gradually",
    "gradual",
    "simultaneously",
    "everyone",
    "everybody",
    "invitation",
    "invitations",
    "invited",
    "randomly",
    "random",
    "randomized",
    "randomised",
    "lottery",
    "region",
    "regions",
    "market",
    "markets",
    "country",
    "countries",
    "volunteered",
    "voluntarily",
    "voluntary",
    "encouraged",
    "encouragement",
    "different",
    "phased",
    "single",
    "eligible",
    "opted",
    "optional",
    "choose",
    "chose",
    "reminder",
    "instrument",
    "incrementally",
    "progressively",
    "simultaneous",
    "globally",
    "worldwide",
    "nudged",
)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "last": 7}
_NUMBERED = re.compile(
    r"^(?:(?:option|choice|number|no\.?|#|answer|it's|its|it is)\s*)?(?P<n>[1-7])\s*[.)]?$"
    r"|^(?:the )?(?P<ord>first|second|third|fourth|fifth|sixth|seventh|last)(?: one| option| choice)?$"
)


def _negated(text: str, start: int) -> bool:
    """Whether the mechanism named at ``start`` is denied: a negation before it in its clause, at most five words
    back ("not by a cutoff", "there was no rollout", "instead of everyone at once") — but not one inside a
    relative clause, which describes units, not the mechanism ("users who did not opt in")."""
    before = text[max(0, start - 60) : start]
    clauses = list(_CLAUSE.finditer(before))
    if clauses:
        before = before[clauses[-1].end() :]
    words = before.split()[-5:]
    window = " ".join(words)
    negations = list(_NEGATORS.finditer(window))
    if not negations:
        return False
    negation = negations[-1]
    return not re.search(r"\b(?:who|that|whose|whom|which|those|ones)\s+(?:\w+\s+)?\S*$", window[: negation.end()])


def read_assignment(text: str) -> Reading[Assignment]:
    """How units get the change, as recommend_method names it: from the user's words (typos, negations and
    several cues at once included: the most specific wins; two that conflict are asked about), or by number
    from :data:`ASSIGNMENT_CHOICES`. Never a guess: what it cannot read is ``unclear``, with the choices."""
    normal = normalize(text)
    everything = tuple(name for name, _ in ASSIGNMENT_CHOICES)
    if not normal.strip(" .!?"):
        return Reading("unclear", reason="I did not catch an answer", choices=everything)
    numbered = _NUMBERED.match(normal.strip(" .!?"))
    if numbered is not None:
        index = int(numbered.group("n")) if numbered.group("n") else _ORDINALS[numbered.group("ord")]
        return Reading("answer", ASSIGNMENT_CHOICES[index - 1][0])
    fixed = correct_typos(normal, _TYPO_KEYS)
    said: set[Assignment] = set()
    denied: set[Assignment] = set()
    for name, pattern in _CUES.items():
        exceptions = [m.span() for m in _NOT_A_CUE[name].finditer(fixed)] if name in _NOT_A_CUE else []
        for match in pattern.finditer(fixed):
            if any(start < match.end() and match.start() < end for start, end in exceptions):
                continue
            side = name == "cutoff" and _SIDE_OF_A_CUTOFF.search(match.group(0)) is not None
            (denied if _negated(fixed, match.start()) and not side else said).add(name)
    said = _named(fixed, said)
    if not said:
        turn = off_script(normal)
        if turn is not None:
            return Reading(turn.kind, suggest=turn.suggest)
        reason = "I could not tell which of these it is"
        if denied:
            reason = "I read what it was not, but not what it was"
        return Reading("unclear", reason=reason, choices=everything)
    kept = {name for name in said if not any(name in _REFINES.get(other, ()) for other in said if other != name)}
    if len(kept) == 1:
        return Reading("answer", next(iter(kept)))
    ordered = tuple(name for name in everything if name in kept)
    return Reading("unclear", reason="that fits more than one of these", choices=ordered)


def _named(text: str, said: set[Assignment]) -> set[Assignment]:
    """The cues that survive their context: "random" inside a nudge is the nudge's, and "everyone" who could
    choose is a choice."""
    said = set(said)
    if "rollout_by_group_over_time" in said and "self_selected" in said:
        groups_chose = re.search(
            rf"\b(?:{_GROUPS})\b[^.;]{{0,40}}\b(?:chose|choose|decided|opted)\b[^.;]{{0,20}}\bwhen\b", text
        )
        if groups_chose:  # "states chose when to adopt it": a rollout at the groups' own dates
            said.discard("self_selected")
    return said


# -- what kind of metric ---------------------------------------------------------------------------------------

_RATE = any_of(
    [
        r"\brates?\b",
        r"\bconver\w*",
        r"\bretention\b|\bretained\b|\bretain\b",
        r"\bchurn\w*",
        r"\bclick[- ]?through\b",
        r"\bctr\b",
        r"\bshare (?:of|who|that)\b",
        r"\bproportions?\b",
        r"\bpercentage\b",
        r"\bfraction\b",
        r"\bbinary\b",
        r"\byes/no\b",
        r"\byes or no\b",
        r"\b0/1\b",
        r"\b0 or 1\b",
        r"\bzero or one\b",
        r"\bwhether\b",
        r"\bprobability\b",
        r"\blikelihood\b",
        r"\bchance\b",
        r"\bdid (?:it |they )?or (?:didn't|did not|not)\b",
        r"\b(?:or not|vs not)\b",
        r"\b(?:win|success|completion|adoption|activation|bounce|open|response|uptake|signup|sign-up|dropout"
        r"|drop-off|error|failure|default|refund|return|renewal|repeat purchase)(?: rate)?\b",
        r"\bpercent(?:age)? of\b",
        r"\b% of\b",
        r"\bhow many (?:users|people|customers|visitors) (?:do|did|who)\b",
        r"\bdo(?:es)? (?:it|something)\b",
        r"\bshare\b",
        r"\bpercent\b",
        r"\bfirst one\b|\bthe first\b|\boption (?:1|one)\b|^1$|^a$",
    ]
)
_MEAN = any_of(
    [
        r"\baverages?\b|\bavg\b",
        r"\b(?:resolution|response|wait|waiting|handling|processing|delivery|load|watch|session|reading|handle|cycle"
        r"|lead|turnaround) times?\b",
        r"\bmeans?\b",
        r"\bper (?:user|customer|account|session|visitor|order|member|agent|ticket|day|week|month|head|person)\b",
        r"\brevenue\b",
        r"\barpu\b|\barppu\b|\baov\b|\bltv\b|\bgmv\b",
        r"\bamounts?\b",
        r"\bdollars?\b|\beuros?\b|\bcents?\b|\$|€|£",
        r"\bspend\w*",
        r"\bvalue\b",
        r"\b(?:minutes|seconds|hours|days)\b",
        r"\btime (?:spent|on|to)\b",
        r"\bhandle time\b|\blatency\b|\bduration\b|\bdwell\b|\bwatch time\b|\bload time\b|\bresponse time\b",
        r"\bcounts?\b",
        r"\bnumber of\b",
        r"\bhow many (?:orders|sessions|items|clicks|visits|messages|tickets|minutes|times)\b",
        r"\borders\b|\bsessions\b|\bitems\b|\bvisits\b|\bpurchases\b|\btickets\b|\bbasket\b|\bcart size\b",
        r"\bcontinuous\b",
        r"\bsum\b|\btotal\b",
        r"\bscores?\b|\bratings?\b|\bnps\b|\bcsat\b|\bsatisfaction\b",
        r"\bincome\b|\bearnings\b|\bwages?\b|\bsalary\b|\bprofit\b|\bmargin\b|\bprice\b|\bcost\b|\bsize\b",
        r"\bweight\b|\bheight\b|\bdistance\b|\bmiles\b|\bkm\b",
        r"\bsecond one\b|\bthe second\b|\boption (?:2|two)\b|^2$|^b$|\bthe other one\b|\bthe latter\b",
    ]
)
#: The kind words the question offers: said outright they settle a mix ("an average conversion rate" is a rate).
_KIND_RATE = re.compile(r"\b(?:a rate|rate|proportion|binary|a share|percentage)\b")
_KIND_MEAN = re.compile(r"\b(?:an average|average|a mean|mean|continuous)\b")


def read_metric_kind(text: str) -> Reading[Metric]:
    """Whether the primary metric is a rate (``proportion``) or an average (``mean``)."""
    normal = normalize(text)
    fixed = correct_typos(normal, ("average", "proportion", "conversion", "percentage", "revenue", "retention"))
    for pattern in OFF_SCRIPT:
        fixed, _ = blank_out(fixed, pattern)
    if re.search(r"\brates? per (?:\d|thousand|hundred|million|capita|head|person)", fixed):
        return Reading("unclear", reason="a rate per head is counted, not a share", choices=("a rate", "an average"))
    rate = [m for m in _RATE.finditer(fixed) if not _negated(fixed, m.start())]
    mean = [m for m in _MEAN.finditer(fixed) if not _negated(fixed, m.start())]
    if rate and not mean:
        return Reading("answer", "proportion")
    if mean and not rate:
        return Reading("answer", "mean")
    if rate and mean:
        kind_rate = any(_KIND_RATE.fullmatch(m.group(0)) for m in rate)
        kind_mean = any(_KIND_MEAN.fullmatch(m.group(0)) for m in mean)
        head = _head_kind(fixed)
        if head is not None:
            return Reading("answer", head)
        if kind_rate != kind_mean:
            return Reading("answer", "proportion" if kind_rate else "mean")
        return Reading("unclear", reason="that could be either", choices=("a rate", "an average"))
    turn = off_script(normal)
    if turn is not None:
        return Reading(turn.kind, suggest=turn.suggest)
    return Reading("unclear", reason="I could not tell which it is", choices=("a rate", "an average"))


def _head_kind(text: str) -> Metric | None:
    """The kind the metric's last noun names: "average conversion rate" is a rate, "revenue per converting user"
    an average."""
    nouns = re.findall(
        r"\b(rate|proportion|share|percentage|probability|fraction|retention|conversion|churn|ctr|average|mean|revenue"
        r"|amount|value|time|count|number|spend|minutes|orders|sessions|score|income|earnings)\b",
        text,
    )
    if not nouns:
        return None
    rates = {"rate", "proportion", "share", "percentage", "probability", "fraction", "retention", "conversion"}
    rates |= {"churn", "ctr"}
    if re.search(r"\b(?:rate|proportion|share|percentage|probability|fraction) of\b", text):
        return "proportion"  # "the fraction of orders refunded": the head comes before "of"
    if re.search(r"\bper (?:user|customer|account|session|visitor|order|member|agent|ticket|person)\b", text):
        return "mean"
    return "proportion" if nouns[-1] in rates else "mean" if nouns[-1] not in ("average", "mean") else None
