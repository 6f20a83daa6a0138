"""The fixed words of everyday questions: measures, intervals, cues for each insight kind,
breakdown and negation words, and the words that carry no meaning here (`FILLER`).

Each table maps a phrase (a tuple of words) to what it means; the reader looks phrases up
at each position, longest first, so no pattern ever scans the text.
"""

from __future__ import annotations

from workspace.analyst.rules._tokens import ARROW


def _table(entries: dict[str, tuple[str, str]]) -> dict[tuple[str, ...], tuple[str, str]]:
    return {tuple(phrase.split()): meaning for phrase, meaning in entries.items()}


_INTERVALS = {
    "hour": ("hourly", "per hour", "each hour", "every hour", "by hour", "an hour",
             "hour by hour"),
    "day": ("daily", "per day", "each day", "every day", "by day", "a day", "day by day",
            "by date", "per date", "each date"),
    "week": ("weekly", "per week", "each week", "every week", "by week", "a week",
             "week by week", "week over week"),
    "month": ("monthly", "per month", "each month", "every month", "by month", "a month",
              "month by month"),
}
_MEASURES = {
    "users": ("users", "user", "people", "persons", "customers", "visitors", "members",
              "unique users", "distinct users", "active users", "identified users",
              "unique visitors", "different users", "distinct identified users",
              "unique people", "individuals", "who"),
    "events": ("events", "event", "actions", "activity", "hits", "interactions",
               "times"),
    "count": ("how many", "number of", "count", "count of", "total number of", "amount of",
              "how much", "volume of", "tally"),
    "avg": ("average", "avg", "mean", "typical"),
    "sum": ("total", "sum", "sum of", "overall sum"),
}
_CUES = {
    "funnel": ("funnel", "conversion", "conversions", "convert", "converts", "converted",
               "converting", "conversion rate", "drop off", "drop offs", "dropoff",
               "journey"),
    "steps": ("go on to", "went on to", "goes on to", "then", "and then", "later", ARROW,
              "followed by", "and later"),
    "retention": ("retention", "retain", "retained", "retaining", "come back", "comes back",
                  "came back", "coming back", "return", "returned", "returning", "returns",
                  "stick around", "churn", "cohort", "cohorts", "keep using",
                  "kept using", "still active", "stay", "stayed"),
    "stickiness": ("stickiness", "sticky", "how often", "how many days", "days active",
                   "active days", "days per user", "days of activity", "distinct days",
                   "number of days", "engaged", "active days per user",
                   "days active per user", "days per person", "engagement frequency", "frequency"),
    "top": ("top", "most common", "most frequent", "most popular", "popular", "frequent",
            "commonest", "biggest", "main", "ranking", "ranked", "rank", "leading"),
    "trend": ("trend", "trends", "over time", "timeline", "time series", "evolution",
              "evolve", "trending", "day to day"),
}
_BY = ("by", "per", "for each", "for every", "split by", "broken down by", "break down by",
       "breakdown by", "grouped by", "group by", "across", "in each", "segmented by",
       "across all", "by each", "each", "every", "all", "for all", "among", "breakdown of")
_NOT = ("not", "excluding", "except", "without", "other than", "non", "but not",
        "apart from", "isn't", "isnt", "aren't", "no")
_WHERE = ("where", "with", "whose", "having", "is", "are", "equals", "equal to", "=", "of",
          "on", "in", "from", "for", "using", "at", "on the", "in the", "from the", "via",
          "only", "just")

PHRASES: dict[tuple[str, ...], tuple[str, str]] = {}
for _unit, _words in _INTERVALS.items():
    PHRASES |= _table({w: ("interval", _unit) for w in _words})
for _measure, _words in _MEASURES.items():
    PHRASES |= _table({w: ("measure", _measure) for w in _words})
for _kind, _words in _CUES.items():
    PHRASES |= _table({w: ("cue", _kind) for w in _words})
PHRASES |= _table({w: ("by", "") for w in _BY})
PHRASES |= _table({w: ("not", "") for w in _NOT})
PHRASES |= _table({w: ("ratio", "") for w in (
    "share of", "what share", "percentage", "percent", "percentage of", "fraction",
    "fraction of", "ratio", "proportion", "proportion of", "rate of", "per cent", "%")})
PHRASES |= _table({"within": ("within", ""), "in under": ("within", ""),
                   "inside": ("within", "")})
PHRASES |= _table({"dau": ("abbrev", "day"), "wau": ("abbrev", "week"),
                   "mau": ("abbrev", "month")})
PHRASES |= _table({"event types": ("column", "event_type"), "event type": ("column", "event_type"),
                   "types": ("column", "event_type"), "type": ("column", "event_type"),
                   "app": ("column", "app_id"), "apps": ("column", "app_id"),
                   "application": ("column", "app_id"), "applications": ("column", "app_id"),
                   "category": ("column", "category"), "categories": ("column", "category")})
WHERE = frozenset(_WHERE)
#: window units ("within 7 days") → the funnel's unit
WINDOW_UNITS = {"minute": "minute", "minutes": "minute", "hour": "hour", "hours": "hour",
                "day": "day", "days": "day", "week": "week", "weeks": "week"}

#: words that carry no meaning for a plan; anything else unexplained lowers confidence
FILLER = frozenset([
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "from", "with", "by", "and", "or",
    "as", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did", "done",
    "have", "has", "had", "get", "got", "gets", "getting", "we", "our", "us", "you", "your",
    "i", "me", "my", "they", "them", "their", "it", "its", "this", "that", "these", "those",
    "there", "here", "what", "which", "whats", "when", "how", "s", "please", "show", "tell",
    "give", "list", "see", "display", "chart", "plot", "graph", "table", "can", "could",
    "would", "will", "shall", "should", "may", "might", "let", "lets", "just", "only", "also",
    "over", "about", "into", "up", "happen", "happened", "happening", "occur", "occurred",
    "record", "recorded", "log", "logged", "track", "tracked", "receive", "received", "come",
    "came", "seen", "make", "made", "take", "took", "many", "much", "number", "any", "some",
    "all", "every", "each", "per", "day", "days", "week", "weeks", "month", "months", "hour",
    "hours", "so", "far", "now", "currently", "current", "recent", "recently", "both",
    "overall", "total", "altogether", "separately", "view", "look", "find", "compute",
    "calculate", "report", "summary", "summarize", "summarise", "break", "down", "split",
    "group", "grouped", "via", "using", "use", "used", "people's", "user's", "during",
    "between", "until", "till", "through", "since", "hi", "hello", "hey", "thanks", "thank",
    "okay", "ok", "like", "kind", "sort", "go", "went", "going", "data", "numbers", "figures",
    "stats", "statistics", "metrics", "values", "value", "result", "results", "broken",
    "active", "where", "whose", "having", "equals",
    "something", "anything", "placed", "completed",
]) | {ARROW}
