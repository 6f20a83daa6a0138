"""The ways people say an event's name: plurals, verb forms and a few synonyms, derived from
the name itself (``signup`` → signups, sign up, signed up, signing up, sign-ups)."""

from __future__ import annotations

from collections.abc import Iterator

from workspace.analyst.rules._tokens import tokenize, words

#: particles that end compound verbs written as one word (signup, login, checkout)
PARTICLES = ("up", "in", "out")
_VOWELS = frozenset("aeiou")
#: everyday words for common event names; used only when the catalog has the event
SYNONYMS: dict[str, tuple[str, ...]] = {
    "signup": ("register", "registration", "join", "new account"),
    "sign_up": ("register", "registration", "join", "new account"),
    "purchase": ("buy", "order", "transaction", "bought"),
    "order_completed": ("purchase", "order", "buy", "bought"),
    "page": ("page view", "pageview", "view"),
    "pageview": ("page view", "page"),
    "screen": ("screen view", "screenview"),
    "login": ("sign in", "log in"),
    "checkout_error": ("checkout failure", "failed checkout"),
}


def plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def past(word: str) -> str:
    if word.endswith("e"):
        return word + "d"
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "ied"
    if _doubles(word):
        return word + word[-1] + "ed"
    return word + "ed"


def gerund(word: str) -> str:
    if word.endswith("e") and not word.endswith("ee"):
        return word[:-1] + "ing"
    if _doubles(word):
        return word + word[-1] + "ing"
    return word + "ing"


def _doubles(word: str) -> bool:
    """Short consonant-vowel-consonant words double their last letter (log → logged)."""
    return (len(word) == 3 and word[0] not in _VOWELS and word[1] in _VOWELS
            and word[2] not in _VOWELS and word[2] not in "wxy")


def inflections(word: str) -> set[str]:
    """`word` as a noun (plural) and as a verb (-s, -ed, -ing); ``-ation`` nouns add their
    verb (activation → activate, activated)."""
    forms = {word, plural(word), past(word), gerund(word)}
    if word.endswith("ation") and len(word) > 7:
        verb = word[:-5] + "ate"
        forms |= {verb, plural(verb), past(verb), gerund(verb), plural(word)}
    if word == "buy":
        forms |= {"bought", "buys", "buying"}
    return forms


def phrases(name: str) -> set[tuple[str, ...]]:
    """Every phrase (a tuple of words) that names the event `name`."""
    base = words(name)
    if not base:
        return set()
    as_typed = tuple(t.text for t in tokenize(name)[0])  # "checkout_error" itself
    found: set[tuple[str, ...]] = {base, tuple("".join(base).split()), as_typed}
    for variant in _spellings(base):
        found |= set(_inflected(variant))
    for synonym in SYNONYMS.get(name.lower(), ()):
        *head, last = words(synonym)
        found |= {(*head, form) for form in inflections(last)}
    return found


def _spellings(base: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield base
    if len(base) == 1:
        word = base[0]
        for particle in PARTICLES:
            stem = word[: -len(particle)]
            if word.endswith(particle) and len(stem) >= 3:
                yield (stem, particle)


def _inflected(base: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Inflect the last word; for particle verbs and longer phrases also the first (sign up
    → signed up, add to cart → added to cart)."""
    if not base:
        return
    *head, last = base
    for form in inflections(last):
        yield (*head, form)
    if len(base) > 2 or (len(base) == 2 and base[1] in PARTICLES):
        first, *rest = base
        for form in inflections(first):
            yield (form, *rest)
        if rest[-1] in PARTICLES and len(base) == 2:  # "sign ups", "signups"
            yield (first, plural(rest[-1]))
            yield (first + plural(rest[-1]),)
