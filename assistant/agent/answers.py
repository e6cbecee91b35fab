"""The guided mode's readers: what a user's words answer, deterministically, and what they do not.

Each reader takes the user's text and returns a :class:`Reading`: the value it read, or why there is none —
``unclear`` (with the reason and the choices to offer), ``invalid`` (a value that cannot be right, the reason in
the user's terms), or an off-script turn: ``dont_know`` (with ``suggest`` when the user asks what to do),
``why`` (why does this question matter?) or ``meaning`` (what does it mean?). A reader never guesses: a turn it
cannot read is ``unclear``, and two designs named at once are a question back, not a pick.

The yes/no and scoping-slot readers are here, with what every reader shares (the off-script turns, typo
correction); how units get the change and the metric's kind are :mod:`assistant.agent.answers_design`'s; the
numbers (the baseline, the lift, the standard deviation, the daily units) are
:mod:`assistant.agent.answers_numbers`'. Standard library only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

__all__ = [
    "OFF_SCRIPT",
    "Kind",
    "Reading",
    "YesNoTopic",
    "any_of",
    "blank_out",
    "correct_typos",
    "normalize",
    "off_script",
    "read_slot",
    "read_yes_no",
]

T = TypeVar("T")
Kind = Literal["answer", "skip", "unclear", "invalid", "dont_know", "why", "meaning"]
#: What a yes/no question is about (its own words count: "it already launched" answers "can you randomize?").
YesNoTopic = Literal["can_randomize", "interference", "has_pre", "refute"]


@dataclass(frozen=True)
class Reading(Generic[T]):
    """What an answer says: ``value`` when ``kind`` is ``answer``; otherwise why there is no value."""

    kind: Kind
    value: T | None = None
    #: unclear / invalid: why, in the user's terms.
    reason: str = ""
    #: unclear: what to offer (the assignments to choose from, in order).
    choices: tuple[str, ...] = ()
    #: answer: how the value was read, when that is worth saying back (a range taken at its larger end).
    note: str = ""
    #: dont_know: the user asked what to do ("what do you suggest?").
    suggest: bool = False

    @property
    def answered(self) -> bool:
        return self.kind == "answer"


# -- the words around every answer -----------------------------------------------------------------------------

_CONTRACTIONS = {
    r"\bdont\b": "don't",
    r"\bcant\b": "can't",
    r"\bwont\b": "won't",
    r"\bisnt\b": "isn't",
    r"\bdoesnt\b": "doesn't",
    r"\bdidnt\b": "didn't",
    r"\bhavent\b": "haven't",
    r"\bhasnt\b": "hasn't",
    r"\bwasnt\b": "wasn't",
    r"\bwerent\b": "weren't",
    r"\barent\b": "aren't",
    r"\bcouldnt\b": "couldn't",
    r"\bwouldnt\b": "wouldn't",
    r"\bshouldnt\b": "shouldn't",
    r"\bim\b": "i'm",
    r"\bive\b": "i've",
    r"\bdunno\b": "don't know",
    r"\bidk\b": "i don't know",
    r"\bidek\b": "i don't know",
}
_CONTRACTION_RES = [(re.compile(pattern), replacement) for pattern, replacement in _CONTRACTIONS.items()]


_STRAIGHT = str.maketrans({ord("\u2019"): "'", ord("\u2018"): "'", ord("`"): "'", ord("\u2013"): "-"})


def normalize(text: str) -> str:
    """Lower case, straight quotes and dashes, common contractions spelled out, one space between words."""
    text = text.lower().translate(_STRAIGHT)
    text = text.replace("\u2014", " - ").replace("\u2212", "-")
    for pattern, replacement in _CONTRACTION_RES:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def any_of(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def blank_out(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """``text`` with every match of ``pattern`` blanked (same length), and whether there was one."""
    found = False

    def space(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        return " " * len(match.group(0))

    return pattern.sub(space, text), found


# -- off-script turns: a question back, or "I don't know" ------------------------------------------------------

_WHY = any_of(
    [
        r"\bwhat(?: is|'s) (?:this|that|it) for\b",
        r"\bwhat for\b",
        r"\bwhat(?: is|'s) the (?:point|purpose|reason)\b",
        r"\b(?:does|would|will|should) (?:that|this|it|the answer) (?:really |even )?matter\b",
        r"\bhow (?:is|does|would|will) (?:that|this|it) (?:relevant|matter|help|change anything|affect|be used)",
        r"\b(?:is|'s) (?:that|this|it) (?:really |even )?(?:important|relevant|necessary|needed)\b",
        r"\bwhat difference does (?:that|this|it) make\b",
        r"\bhow come\b",
        r"\bwhat do(?:es)? (?:that|this|it) (?:have|has) to do with\b",
        r"\bwhat do you need (?:that|this|it) for\b",
        r"\bwhy do you (?:ask|need|want|care)\b",
        r"\bwhy (?:is|does) (?:that|this|it) (?:matter|important|relevant|needed)\b",
        r"\bwhat will you do with (?:that|this|it)\b",
        r"\bhow will (?:that|this|it|you) (?:be used|use it)\b",
        r"\bwhy (?:do|would|does|is|should) (?:you|that|this|it|i|we)(?: (?:need|want|ask|care|matter|know|use)"
        r"(?: (?:that|this|it|to know|about it))?)?\b",
        r"(?:^|[.?!;]\s*)(?:(?:but|and|ok|okay|sorry|hmm+|um+|well|wait),?\s+)*why\b(?! not\b)",
    ]
)
_MEANING = any_of(
    [
        r"\bwhat do(?:es)? (?:you|that|this|it|[\w' /-]{1,30}) mean(?: by [\w' /-]{1,30})?\b",
        r"\bnot sure what (?:you mean|that means|this means|it means|you're asking)\b",
        r"\b(?:i )?(?:don't|do not) (?:understand|get|follow)(?: the question| what you mean| you| it| that)?\b",
        r"\b(?:can|could|would) you (?:please )?(?:explain|clarify|rephrase|elaborate|define|give (?:me )?an example"
        r"|say more|be more specific)\b",
        r"^(?:please )?(?:explain|clarify|rephrase|define|elaborate)(?: (?:please|that|it|this|more|again))*\b",
        r"\bwhat counts as\b",
        r"\b(?:the )?question is (?:unclear|confusing|vague)\b",
        r"\bi(?:'m| am) (?:confused|lost)\b",
        r"\bconfusing\b",
        r"^(?:huh|what|sorry|pardon|eh|come again|say again|meaning|what now)\s*\??$",
        r"\bmeaning\?",
        r"\bwhat(?: is|'s| are) (?!(?:this|that|it) for\b|the (?:point|purpose|reason)\b|(?:a |the )?(?:typical|usual"
        r"|normal|standard(?! deviation)|common|default|good|reasonable)\b)(?:a |an |the )?(?:[\w/-]+ ){0,3}[\w/-]+"
        r"\s*\?\s*$",
        r"\b(?:like|such as|for example|for instance|e\.g\.) what\b",
        r"^(?:for example|for instance|such as|like what|example)\s*\?",
        r"\bwhat are (?:the|my|your) (?:options|choices)\b",
        r"\bwhich (?:options|choices) (?:are there|do i have)\b",
        r"\bin what sense\b",
        r"\bwhat kind of (?:answer|thing|number)\b",
    ]
)
_SUGGEST = any_of(
    [
        r"\b(?:what|which)(?: \w+)? (?:do|would|should|could) you (?:suggest|recommend|propose|advise|think|use|assume"
        r"|go with|pick|choose|say)\b",
        r"\b(?:any|your|a) (?:suggestions?|ideas?|advice|recommendations?|proposals?)\b",
        r"\byou (?:tell me|decide|choose|pick|suggest|recommend)\b",
        r"\bup to you\b",
        r"\byour call\b",
        r"\bhelp me\b",
        r"\bsuggest (?:something|one|a \w+)\b",
        r"\bwhat(?: is|'s|'re| are) (?:a |the )?(?:typical|usual|common|normal|standard(?! deviation)|default"
        r"|good default|reasonable|sensible)\b",
        r"\bwhat should (?:i|we) (?:say|use|pick|choose|put|answer|go with)\b",
        r"\bcan you (?:guess|estimate|suggest|recommend)\b",
        r"\bwhat would you (?:do|say|go with)\b",
        r"\bguide me\b",
    ]
)
_DONT_KNOW = any_of(
    [
        r"\b(?:i |we )?(?:really |honestly |just )?(?:don't|do not|did not|didn't) (?:really |actually )?know\b",
        r"\bno (?:idea|clue)\b",
        r"\bnot a clue\b",
        r"\b(?:i'm |i am |we're |we are )?(?:not|un) ?(?:really |totally |entirely |quite |100% )?"
        r"(?:sure|certain)\b",
        r"\buncertain\b",
        r"\b(?:can't|cannot|can not) (?:really )?(?:say|tell)\b",
        r"\bhard to (?:say|tell)\b",
        r"\bbeats me\b",
        r"\bwho knows\b",
        r"\bno one knows\b",
        r"\bnobody knows\b",
        r"\bi wish i knew\b",
        r"\b(?:haven't|have not|not) (?:yet )?(?:decided|checked|figured(?: it)? out|thought about(?: it)?|looked"
        r"(?: it up)?)\b",
        r"\bnot (?:known|decided|determined)(?: yet)?\b",
        r"\bunknown\b",
        r"\btbd\b",
        r"\bto be (?:decided|determined|confirmed)\b",
        r"\b(?:it )?depends\b",
        r"\bno (?:strong )?opinion\b",
        r"\bi(?:'m| am) (?:clueless|stumped|stuck)\b",
        r"\bpass\b",
        r"\bgood question\b",
        r"\bnot my area\b",
        r"\bask (?:someone|somebody) else\b",
        r"\b(?:i |we )?(?:have|need|would have|will have|'ll have|'d have) to (?:check|ask|find out|confirm|verify"
        r"|look)\b",
        r"\blet me (?:check|ask|find out|think|look)\b",
        r"\bnot sure\b",
    ]
)


#: The off-script patterns, in the order they are told apart: a request for a suggestion, a question about the
#: meaning, a why, "I don't know".
OFF_SCRIPT = (_SUGGEST, _MEANING, _WHY, _DONT_KNOW)


def off_script(text: str) -> Reading[object] | None:
    """The off-script turn ``text`` is, if it is one: a question about the meaning, a why, or "I don't know"
    (``suggest`` when the user asks what to do). None for anything else."""
    normal = normalize(text)
    if _SUGGEST.search(normal):
        return Reading("dont_know", suggest=True)
    if _MEANING.search(normal):
        return Reading("meaning")
    if _WHY.search(normal):
        return Reading("why")
    if _DONT_KNOW.search(normal):
        return Reading("dont_know")
    return None


# -- yes or no -------------------------------------------------------------------------------------------------

#: Phrases that mean yes although they hold a negation ("why not", "no problem").
_YES_IDIOMS = any_of(
    [
        r"\bwhy not\b",
        r"\bno (?:problem|doubt|question|worries|objections?)\b",
        r"\bnot a problem\b",
        r"\bno reason not to\b",
        r"\b(?:i )?(?:don't|do not) see why not\b",
        r"\b(?:i )?(?:don't|do not) mind\b",
        r"\b(?:can't|cannot|couldn't|won't|wouldn't|doesn't) hurt\b",
        r"\bnot a bad idea\b",
        r"\bwithout (?:a )?doubt\b",
        r"\bi (?:think|believe|guess|suppose|reckon|expect) so\b",
        r"\bi(?:'d| would) (?:say|think) (?:so|yes)\b",
        r"\bthat(?:'s| is) (?:right|correct|true)\b",
        r"\bof course\b",
        r"\bfor sure\b",
        r"\bgo (?:ahead|for it)\b",
        r"^(?:please )?do (?:it|that|them)\b|\bplease do (?:it|that|them)\b",
        r"\bnothing (?:stops|prevents|keeps|blocks) (?:us|me|it|that)\b",
        r"\bsounds? (?:good|great|fine|right)\b",
        r"\bgood idea\b",
        r"\blet'?s (?:do|go|run|try)\b",
        r"\byes please\b",
        r"\bplease do\b",
        r"\b(?:run|challenge|check) (?:it|them|the checks|that|away)\b",
        r"\bby all means\b",
        r"\bmost (?:likely|probably)(?! not)\b",
        r"\bnot impossible\b",
        r"\bnot independent\b",
        r"\bi(?:'d| would) (?:like|love) (?:that|to|it)\b",
        r"\bwhy wouldn't (?:we|i|you)\b",
    ]
)
#: Phrases that mean no.
_NO_IDIOMS = any_of(
    [
        r"\b(?:i )?(?:don't|do not) (?:think|believe|expect|suppose) so\b",
        r"\bnot (?:that|as far as) (?:i|we) (?:know|can tell|are aware)(?: of)?\b",
        r"\bnot really\b",
        r"\bnot at all\b",
        r"\bno way\b",
        r"\b(?:i )?(?:guess|think|suppose|reckon|believe|expect) not\b",
        r"\b(?:probably|likely|maybe|perhaps|possibly) not\b",
        r"\bmost (?:likely|probably) not\b",
        r"\bi(?:'d| would) (?:say|think) no(?:t)?\b",
        r"\bby no means\b",
        r"\b(?:of course|absolutely|definitely|certainly|surely) not\b",
        r"\b(?:i'd|i would|we'd|we would) rather not\b",
        r"\bno,? thanks?(?: you)?\b",
        r"\bnot (?:now|today|this time|for now|needed|necessary)\b",
        r"\bno need\b",
        r"\b(?:skip|stop) (?:it|that|them|this)\b",
        r"\bdon't bother\b",
        r"\bhardly\b",
        r"\bunlikely\b",
        r"\bimpossible\b",
        r"\bnot (?:possible|allowed|an option|feasible|doable|permitted|available)\b",
        r"\bnothing (?:like that|of the sort|of that kind)\b",
        r"\bnope\b",
        r"\bi (?:doubt|wouldn't think) (?:it|that|so)\b",
        r"\bi wish (?:we|i) could\b",
        r"\bnot (?:right now|this time|for this one|yet)\b",
        r"\b(?:unfortunately|sadly|alas) not\b",
        r"\bno chance\b",
        r"\bnot (?:that|as far as) i can (?:see|tell)\b",
        r"\bnone that i know of\b",
    ]
)
_PARTIAL = any_of(
    [
        r"\bsort of\b",
        r"\bkind of\b",
        r"\bkinda\b",
        r"\bsorta\b",
        r"\bpartly\b",
        r"\bpartially\b",
        r"\bin part\b",
        r"\bsomewhat\b",
        r"\bto some (?:extent|degree)\b",
        r"\bmore or less\b",
        r"\byes and no\b",
        r"\bhalf and half\b",
    ]
)
_HEDGE = any_of([r"\bmaybe\b", r"\bperhaps\b", r"\bpossibly\b", r"\bmight\b", r"\bcould be\b", r"\bmay be\b"])
#: Words that say yes or no outright.
_YES_WORDS = (
    r"yes+|yeah|yea|yep|yup|ya|yah|yess+|ye|aye|y|sure|definitely|absolutely|certainly|indeed|correct|right|true"
    r"|affirmative|ok|okay|okey|k|fine|totally|exactly|agreed|yessir|affirm|always|obviously|clearly|probably"
    r"|likely|mostly|generally|usually|possible|allowed|able|feasible|doable|please|yse|ys|yas|yeh|yees|yeas"
)
_NO_WORDS = r"no+|n|nah|naw|nay|nope|never|negative|none|nobody|nothing|neither|nor|false|nah+|not|no one|zero"
_STRONG_YES = re.compile(rf"\b(?:{_YES_WORDS})\b")
_STRONG_NO = re.compile(rf"\b(?:{_NO_WORDS})\b|\b\w+n't\b|\bcannot\b|\bcan not\b")
#: A subject and a verb, said plainly: "we can", "it does", "they have" (a weak yes).
_WEAK_YES = re.compile(
    r"\b(?:we|i|they|you|it|he|she|users?|customers?|people|that|this|there|one|units?|sellers?|buyers?|drivers?"
    r"|riders?|teams?|the team|accounts?|agents?)(?:'s)? (?:can|could|do|does|did|have|has|had|will|would|are|is"
    r"|was|were|should|might)\b"
)
_TURN = re.compile(
    r"\b(?:but|however|although|though|actually|wait|except|on second thought|then again|i mean|no wait)\b|;"
)
#: Turns that take back what came before ("no, wait, yes"); the others add a caveat ("yes, but only in the EU").
_REVERSALS = frozenset({"actually", "wait", "on second thought", "then again", "i mean", "no wait"})

#: Each topic's own words, when no yes or no is said outright.
_TOPIC_YES: dict[YesNoTopic, re.Pattern[str]] = {
    "can_randomize": any_of(
        [
            r"\brandom\w*",
            r"\ba/?b(?:[- ]?test\w*)?\b",
            r"\bsplit[- ]?test\w*",
            r"\bhold[- ]?outs?\b",
            r"\blotter(?:y|ies)\b",
            r"\bcoin\b",
            r"\bfeature flags?\b",
            r"\bbucket\w*",
            r"\b50/50\b",
            r"\bfifty[- ]fifty\b",
            r"\bcontrol group\b",
            r"\bexperiment\w*",
        ]
    ),
    "interference": any_of(
        [
            r"\bmarket ?places?\b",
            r"\btwo[- ]sided\b",
            r"\bsocial\b",
            r"\bnetwork\w*",
            r"\bshar(?:ed|e|es|ing)\b",
            r"\bcompet\w+",
            r"\binventory\b",
            r"\bsupply\b",
            r"\bbudgets?\b",
            r"\bspill\w*",
            r"\bcontagi\w*",
            r"\bviral\b",
            r"\breferr\w*",
            r"\bfriends?\b",
            r"\bfollowers?\b",
            r"\baffects? (?:each other|one another|others|the others|other (?:users|units|people))\b",
            r"\binteract\w*",
            r"\binfluenc\w*",
            r"\bword of mouth\b",
            r"\bauctions?\b",
            r"\bbidding\b",
            r"\bcongestion\b",
            r"\bsame pool\b",
            r"\bhouseholds?\b",
            r"\bcollaborat\w*",
            r"\bteammates?\b",
            r"\bchat\w*\b",
            r"\bmessag\w*",
            r"\bcannibali[sz]\w*",
            r"\beach other'?s?\b",
            r"\bone another\b",
            r"\bmulti-?player\b",
        ]
    ),
    "has_pre": any_of(
        [
            r"\bhistor\w*",
            r"\blog(?:s|ged|ging)?\b",
            r"\btrack(?:ed|ing)?\b",
            r"\bwarehouse\b",
            r"\bdashboards?\b",
            r"\b(?:years|months|weeks|quarters|days) of (?:data|history|logs)\b",
            r"\bsince (?:19|20)\d\d\b",
            r"\bback ?fill\w*",
            r"\bpre[- ]?(?:period|launch|change)\b",
            r"\bbaseline data\b",
            r"\bbefore (?:the )?(?:change|launch|rollout|switch|release)\b",
            r"\balready (?:measur|collect|record|captur)\w*",
            r"\b(?:always|long) (?:been )?(?:measured|tracked|collected|logged|recorded)\b",
            r"\bfor (?:years|months|ages)\b",
            r"\bpanel\b",
            r"\bsame (?:users|units|people)\b",
            r"\bgo(?:es)? back (?:to|years|months|decades)\b",
        ]
    ),
    "refute": any_of([r"\bchallenge\b", r"\brobust\w*", r"\bcheck\w*", r"\bproceed\b"]),
}
_TOPIC_NO: dict[YesNoTopic, re.Pattern[str]] = {
    "can_randomize": any_of(
        [
            r"\balready (?:launched|live|shipped|released|out|rolled out|happened|done|running|deployed|over|"
            r"enabled|on)\b",
            r"\b(?:launched|shipped|released|deployed|rolled out|enabled) (?:it )?(?:already|last|to everyone|to all"
            r"|for everyone|for all|everywhere|globally)\b",
            r"\b(?:it's|it is|it was|is) live\b",
            r"\blegal\w*",
            r"\bregulat\w*",
            r"\blaws?\b",
            r"\bcompliance\b",
            r"\bethic\w*",
            r"\bcontract\w*",
            r"\bpolicy\b",
            r"\btoo late\b",
            r"\bin the past\b",
            r"\bretrospective\w*",
            r"\beveryone (?:has|got|already has|gets) it\b",
            r"\bmandat\w*",
            r"\bunfair\b",
            r"\bit happened\b",
            r"\b(?:went|gone|is|was|already) live\b",
            r"\balready (?:\w+ )?(?:rolled|launched|shipped|released|deployed|live|out|happened|enabled|on)\b",
        ]
    ),
    "interference": any_of(
        [
            r"\bindependen\w*",
            r"\bisolat\w*",
            r"\bon (?:their|its|his|her) own\b",
            r"\bseparate\w*",
            r"\bsingle[- ]player\b",
            r"\bprivate\b",
            r"\balone\b",
            r"\bsolo\b",
            r"\bown (?:account|data|workspace)\b",
            r"\bunrelated\b",
        ]
    ),
    "has_pre": any_of(
        [
            r"\bnew metric\b",
            r"\bbrand new\b",
            r"\b(?:only )?(?:started|start|began|begin) (?:to )?(?:track|log|measur|collect|record)\w*",
            r"\b(?:only|just) (?:after|since) (?:the )?(?:launch|change|rollout|release)\b",
            r"\bfirst time\b",
            r"\bnew (?:users|product|feature|market|app|customers)\b",
            r"\bfrom scratch\b",
            r"\b(?:are|is|were|was) (?:all |completely |entirely |totally )?new\b",
            r"\b(?:lost|deleted|purged|wiped|gone|missing|dropped|overwritten)\b",
        ]
    ),
    "refute": any_of([r"\bskip\b", r"\blater\b", r"\benough\b", r"\bmove on\b", r"\bdone\b", r"\bstop\b"]),
}


#: A randomized nudge rather than the change itself: "only the invitation went to a random half" says who was
#: *invited* at random (an instrument), not that the change can be randomized.
_NUDGE = re.compile(
    r"\b(?:invit\w*|nudg\w*|encourag\w*|offer\w*|e-?mails?|reminders?|promot\w*|coupons?|vouchers?|incentiv\w*)\b"
)


def _topic_yes(topic: YesNoTopic, text: str) -> bool:
    """Whether ``text`` says the topic's own yes (for "can you randomize?": not when what was random is a nudge)."""
    if topic == "can_randomize" and _NUDGE.search(text):
        return False
    return bool(_TOPIC_YES[topic].search(text))


def read_yes_no(text: str, topic: YesNoTopic | None = None) -> Reading[bool]:
    """A yes or a no, said outright or hedged ("I think so", "not really", "we can't", "nope, it's shared"), in
    the topic's own words ("it already launched" is a no to "can you randomize?"), or why it is neither.

    An answer given first holds against a caveat after "but" ("yes, but not for everyone"), unless the caveat
    says the topic's own yes ("no, but we could randomize by region"); "actually" or "wait" take it back."""
    normal = normalize(text)
    if not normal.strip(" .!?"):
        return Reading("unclear", reason="I did not catch an answer")
    rest = normal
    marks: list[tuple[int, bool]] = []  # (where, yes?) for each idiom and each word said outright
    for pattern, says in ((_NO_IDIOMS, False), (_YES_IDIOMS, True)):
        marks += [(m.start(), says) for m in pattern.finditer(rest)]
        rest, _ = blank_out(rest, pattern)
    rest, suggest = blank_out(rest, _SUGGEST)
    rest, meaning = blank_out(rest, _MEANING)
    rest, why = blank_out(rest, _WHY)
    rest, dont_know = blank_out(rest, _DONT_KNOW)
    rest, partial = blank_out(rest, _PARTIAL)
    rest, hedge = blank_out(rest, _HEDGE)
    marks += [(m.start(), True) for m in _STRONG_YES.finditer(rest)]
    marks += [(m.start(), False) for m in _STRONG_NO.finditer(rest)]
    turns = list(_TURN.finditer(rest))
    bounds = [(0, ""), *((m.start(), m.group(0)) for m in turns), (len(rest), "")]
    decided: bool | None = None
    led = False  # the first segment opens with its answer
    conflict = False
    weak = False
    for (start, word), (end, _) in itertools.pairwise(bounds):
        inside = sorted(mark for mark in marks if start <= mark[0] < end)
        opens = bool(inside) and not rest[start : inside[0][0]].strip(" ,.;:!-")
        said = {says for _, says in inside}
        if len(said) == 2 and opens:
            said = {inside[0][1]}  # "yes, we can't for everyone": the first word answers
        segment = rest[start:end]
        segment_weak = bool(_WEAK_YES.search(segment))
        weak = weak or segment_weak
        if len(said) == 2:
            conflict = conflict or not led  # a caveat after an answer given first does not take it back
            continue
        if start == 0:
            decided, led = (said.pop() if said else None), opens
            continue
        if said:
            says = said.pop()
            if word in _REVERSALS or decided is None or not led:
                decided, conflict = says, False
        elif decided is False and topic is not None and _topic_yes(topic, segment):
            decided = True  # "no, but we could randomize by region", "no, but sellers share inventory"
    if conflict:
        return Reading("unclear", reason="that says both yes and no", choices=("yes", "no"))
    if decided is not None:
        return Reading("answer", decided)
    if meaning:
        return Reading("meaning")
    if why:
        return Reading("why")
    if suggest or dont_know:
        return Reading("dont_know", suggest=suggest)
    if topic is not None:
        denied, cue_no = blank_out(normal, _TOPIC_NO[topic])  # "started tracking it after launch" is no "tracking"
        cue_yes = _topic_yes(topic, denied)
        if cue_yes != cue_no:
            return Reading("answer", cue_yes)
    if partial:
        return Reading("unclear", reason="that is a partial answer", choices=("yes", "no"))
    if weak:
        return Reading("answer", True)
    if hedge:
        return Reading("dont_know")
    return Reading("unclear", reason="I could not read a yes or a no in that", choices=("yes", "no"))


# -- typos: a small edit distance on the words the readers key on ---------------------------------------------


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (adjacent swaps count once), stopped early past ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def correct_typos(text: str, keys: Iterable[str]) -> str:
    """``text`` with each word of six letters or more that is one edit from a key word (two from a key of nine
    letters or more) replaced by that key. Words that are keys themselves stay; shorter words are too often another
    word ("close" is not "chose")."""
    vocabulary = sorted(set(keys))
    known = set(vocabulary)

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) < 6 or word in known:
            return word
        for key in vocabulary:
            limit = 2 if len(key) >= 9 and len(word) >= 8 else 1
            if key[0] in word[:2] and _distance(word, key, limit) <= limit:
                return key
        return word

    return re.sub(r"[a-z]+", fix, text)


# -- the scoping slots: any words are an answer, but not a non-answer --------------------------------------------

_NON_ANSWERS = re.compile(
    r"^(?:yes|yeah|yep|no|nope|ok|okay|sure|fine|k|hmm+|um+|uh+|er+|ah+|oh|lol|\?+|\.+|-+|n/a|na"
    r"|whatever|anything|something|next|skip|pass|idk|hi|hello|hey|thanks|thank you|test|asdf|qwerty|x+)$"
)
_SENTENCES = re.compile(r"(?<=[.?!])\s+|\n+")
_FILLER = re.compile(
    r"\b(?:hmm+|um+|uh+|well|honestly|so|ok|okay|sorry|really|actually|just|i guess|to be honest|tbh|right now"
    r"|at the moment|yet|i mean|please|though|anyway|any|ideas?|then|here|there|to me|me|for me|for us|us)\b"
)


def read_slot(text: str) -> Reading[str]:
    """A scoping answer: the user's words themselves, unless the turn is a question back ("why does that
    matter?", "what do you mean?"), "I don't know (what do you suggest?)", or no answer at all ("ok", "?")."""
    stripped = " ".join(text.split())
    normal = normalize(stripped)
    if not normal.strip(" .!?"):
        return Reading("unclear", reason="I did not catch an answer")
    if _NON_ANSWERS.match(normal.strip(" .!,")):
        turn = off_script(normal)
        if turn is not None:
            return Reading(turn.kind, suggest=turn.suggest)
        return Reading("unclear", reason="that does not answer the question")
    kept: list[str] = []
    turns: list[Reading[object]] = []
    for sentence in (s for s in _SENTENCES.split(stripped) if s.strip()):
        clauses = [c for c in re.split(r"(?<=[,;])\s+|\s+-\s+", sentence) if c.strip()]
        content = [c for c in clauses if not _off_script_only(c, turns)]
        if content and content != clauses and not _substantive(" ".join(content)):
            continue
        if content:
            kept.append(sentence if content == clauses else " ".join(content).strip(" ,;"))
    if kept:
        return Reading("answer", " ".join(kept).strip())
    kinds = [turn.kind for turn in turns]
    for kind in ("meaning", "why", "dont_know"):
        if kind in kinds:
            return Reading(kind, suggest=any(turn.suggest for turn in turns))
    return Reading("unclear", reason="that does not answer the question")


def _off_script_only(clause: str, turns: list[Reading[object]]) -> bool:
    """Whether ``clause`` is only an off-script turn (recorded in ``turns``), with nothing else said."""
    turn = off_script(clause)
    if turn is None:
        return False
    normal = normalize(clause)
    for pattern in OFF_SCRIPT:
        normal, _ = blank_out(normal, pattern)
    if _substantive(normal):
        return False
    turns.append(turn)
    return True


def _substantive(text: str) -> bool:
    """Whether ``text`` says something beyond filler (a word that is not filler)."""
    words = re.findall(r"[a-z0-9]+", _FILLER.sub(" ", normalize(text)))
    stop = {
        *("i", "we", "you", "it", "a", "the", "to", "is", "that", "this", "what", "do", "of", "and", "or", "about"),
        *("know", "want", "need", "ask", "matter", "care", "tell", "understand", "mean", "does", "why", "for"),
    }
    return len([w for w in words if w not in stop]) >= 1
