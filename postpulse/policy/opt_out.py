"""Opt-out detection for inbound DMs, and the blocklist entry that honours it.

``is_opt_out(text)`` is deliberately tilted towards catching opt-outs (a missed "stop" means
messaging someone who asked us not to), yet does not fire on ordinary uses of the words:

- a message that *is* an opt-out keyword, alone or with filler ("STOP", "stop!!", "Please stop",
  "unsubscribe", "opt out", "Stopp", "arrêter", "arrete", "baja", "désabonner", "abmelden", ...);
- a message containing an opt-out phrase anywhere: "stop messaging/texting/DMing/contacting me",
  "don't / do not / never message|text|DM|contact me", "leave me alone", "remove me from your
  list", "unsubscribe me", "opt me out", "no more messages", "darme de baja", "ne m'écrivez
  plus", "hör auf mir zu schreiben", "keine Nachrichten mehr", ...;
- the word "unsubscribe" or "opt out"/"opt-out"/"optout" anywhere (asking *how* to unsubscribe is
  an opt-out too).

Not opt-outs: "don't stop believing", "bus stop photo", "I can't stop laughing", "stop by the
shop", "I unsubscribed from that newsletter", "baja california", "the price will go down".

Matching is on the text NFKD-normalised without accents and case-folded, with RE2 (linear time:
inbound DMs come from strangers).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import re2

from .blocklist import BlocklistEntry, normalize_user

_OPTS = re2.Options()
_OPTS.log_errors = False

#: keywords that are an opt-out when they make up a whole message or a whole sentence
_STRONG_KEYWORDS = frozenset(
    {
        "stop",
        "stopp",
        "stop all",
        "stopall",
        "unsubscribe",
        "unsub",
        "opt out",
        "optout",
        "opt me out",
        "remove me",
        "stop messaging",
        "stop texting",
        "stop it all",
        # fr
        "arret",
        "arrete",
        "arreter",
        "arretez",
        "desabonner",
        "desabonnement",
        "desinscrire",
        "desinscription",
        # de / nordic
        "abmelden",
        "abbestellen",
        "austragen",
        "avsluta",
        "afmeld",
        # es / pt
        "baja",
        "darme de baja",
        "dame de baja",
        "descadastrar",
    }
)
#: weaker keywords: an opt-out only when they are the whole message ("END", "cancel")
_WEAK_KEYWORDS = frozenset(
    {"cancel", "cancel all", "quit", "end", "stoppen", "parar", "para ya", "cancelar", "sair"}
)

_FILLER = frozenset(
    {
        "please",
        "pls",
        "plz",
        "now",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "ok",
        "okay",
        "just",
        "already",
        "asap",
        "immediately",
        "hi",
        "hello",
        "hey",
        "svp",
        "merci",
        "bitte",
        "danke",
        "por",
        "favor",
        "gracias",
        "ya",
    }
)

_VERBS = (
    r"(?:messag(?:e|ing)|msg(?:ing)?|text(?:ing)?|dm(?:ing)?|dm'?ing|pm(?:ing)?|contact(?:ing)?|"
    r"writ(?:e|ing)(?: to)?|email(?:ing)?|spam(?:ming)?|send(?:ing)?|"
    r"bother(?:ing)?|harass(?:ing)?|reach(?:ing)? out(?: to)?|hit(?:ting)? me up)"
)

# phrases that are an opt-out wherever they appear (matched per sentence, on tokens joined
# by single spaces, accents removed, case-folded)
_PHRASES = [
    # en
    r"\b(?:don'?t|do not|never) (?:ever )?" + _VERBS + r" (?:me|us)\b",
    r"\bleave me alone\b",
    r"\b(?:remove|unsubscribe) me\b",
    r"\btake me off\b",
    r"\bunsubscribe\b",
    r"\bopt(?:-| )?out\b",
    r"\bopt me out\b",
    r"\bno more (?:messages|msgs|dms|texts|emails|spam)\b",
    # fr
    r"\bne m'?(?:ecri(?:s|vez)|contacte[zr]?|envoie[zr]?) plus\b",
    r"\bne me (?:contacte[zr]?|ecri(?:s|vez)|envoie[zr]?) plus\b",
    r"\barret(?:e|ez|er)? de m'?(?:ecrire|contacter|envoyer)\b",
    r"\bme desabonner\b",
    r"\bme desinscrire\b",
    # de
    r"\bh(?:o|oe)r(?:en sie|t)? auf mir (?:zu )?(?:schreiben|nachrichten)\b",
    r"\bkeine (?:weiteren )?nachrichten mehr\b",
    r"\bschreib(?:en sie)? mir nicht mehr\b",
    # es / pt / it
    r"\b(?:darme|dame|deme|dar) de baja\b",
    r"\bno me (?:escribas|escriba|contactes|contacte|mandes|envies)(?: mas)?\b",
    r"\bdeja(?:n)? de (?:escribirme|enviarme|mandarme|contactarme)\b",
    r"\bnao (?:me )?(?:mande|envie|escreva)s? mais\b",
    r"\bnon (?:mi )?scrivere piu\b",
]
_PHRASE_RE = re2.compile("|".join(f"(?:{p})" for p in _PHRASES), _OPTS)
# "stop messaging me", "stop texting" at the end of a sentence -- but not "can't stop texting
# him", "don't stop messaging me"
_STOP_RE = re2.compile(r"\bstop " + _VERBS + r"(?: (?:me|us)\b| (?:these|this|those)\b|$)", _OPTS)
_NEG_STOP_RE = re2.compile(
    r"\b(?:can'?t|cannot|couldn'?t|won'?t|don'?t|do not|never|didn'?t|not|wouldn'?t) stop\b", _OPTS
)
_TOKEN_RE = re2.compile(r"[\pL\pN']+", _OPTS)
_CLAUSE_SPLIT = re2.compile(r"[.!?;,:\n\r()\[\]\x{2013}\x{2014}]+", _OPTS)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")


def _tokens(text: str) -> list[str]:
    return [t for t in (t.strip("'") for t in _TOKEN_RE.findall(text)) if t]


def _core(tokens: list[str]) -> str:
    core = [t for t in tokens if t not in _FILLER]
    if len(core) > 1 and len(set(core)) == 1:  # "STOP STOP STOP"
        core = core[:1]
    return " ".join(core)


def is_opt_out(text: str | None) -> bool:
    """Whether an inbound message asks us to stop contacting its sender."""
    if not text or not text.strip():
        return False
    norm = _normalize(text)
    whole = _core(_tokens(norm))
    if whole in _STRONG_KEYWORDS or whole in _WEAK_KEYWORDS:
        return True
    for clause in _CLAUSE_SPLIT.split(norm):
        tokens = _tokens(clause)
        if not tokens:
            continue
        if _core(tokens) in _STRONG_KEYWORDS:
            return True
        joined = " ".join(tokens)
        if _PHRASE_RE.search(joined):
            return True
        if _STOP_RE.search(joined) and not _NEG_STOP_RE.search(joined):
            return True
    return False


def entry_for(
    platform: str,
    username: str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
    entry_id: str | None = None,
) -> BlocklistEntry:
    """The blocklist entry recording an opt-out: user, exact, ``added_by='opt_out'``, permanent.

    It blocks every action towards that user on that platform (DMs, but also likes, follows
    and comments) and makes the policy engine answer ``opted_out``.
    """
    handle = normalize_user(username)
    if not handle:
        raise ValueError("opt-out entry needs the sender's username")
    when = f" on {now:%Y-%m-%d}" if now else ""
    return BlocklistEntry(
        entry_type="user",
        value=handle,
        match_type="exact",
        platform=platform.casefold() if platform else None,
        reason=reason or f"@{handle} asked not to be contacted (opt-out message{when})",
        added_by="opt_out",
        expires_at=None,
        id=entry_id,
        created_at=now,
    )
