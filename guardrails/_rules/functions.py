"""No function that reads files, URLs or settings, runs or parses SQL, sleeps, or names a schema.

Names are matched lower-case, against sqlglot's names for the function as well as the
name written, with `prefix*` patterns. The policy's `dialect` (the engine's) picks a deny
list, every engine's for a dialect without one; the policy adds names (`function_denylist`)
or exempts exact names from the defaults (`function_allowlist`).
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp

from guardrails._context import Context
from guardrails._errors import Rejected
from guardrails._hints import function_name

# Defence in depth: none of these exists in both engines, but none may ever run.
COMMON_DENYLIST = frozenset(
    """
    pg_* sleep benchmark load_file lo_import lo_export dblink* xp_* sys_exec sys_eval
    current_setting set_config getenv load_extension readfile writefile edit fts3_tokenizer
    nextval currval setval lastval
    """.split()  # noqa: SIM905 - a word list reads better than 25 quoted strings
)
DUCKDB_DENYLIST = frozenset(
    """
    read_* parquet_* iceberg_* delta_* sqlite_* postgres_* mysql_* duckdb_* pragma_* http_*
    arrow_* glob sniff_csv query query_table json_execute_serialized_sql json_serialize_*
    json_deserialize_* from_substrait*
    get_substrait* which_secret getvariable checkpoint force_checkpoint enable_* disable_*
    install_extension load_extension export_database import_database
    """.split()  # noqa: SIM905
)
TRINO_DENYLIST = frozenset({"$*", "sequence_table", "exclude_columns"})
ENGINE_DENYLISTS = {"duckdb": DUCKDB_DENYLIST, "trino": TRINO_DENYLIST}
#: A dialect without a list of its own fails closed: every engine's list applies.
UNKNOWN_DIALECT_DENYLIST = frozenset[str]().union(*ENGINE_DENYLISTS.values())


def functions(ctx: Context) -> None:
    """Reject with forbidden_function on the first denied function call."""
    policy = ctx.policy
    denied = _matcher(
        (COMMON_DENYLIST | ENGINE_DENYLISTS.get(policy.dialect or "", UNKNOWN_DIALECT_DENYLIST)
         | policy.function_denylist),
        policy.function_allowlist,
    )
    for node in ctx.nodes:
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            name = node.sql(dialect="trino").split("(", 1)[0].lower()
            raise Rejected(
                "forbidden_function",
                f"{name}: functions are called by bare name, not qualified or as methods",
                hint="call built-in functions by their bare name",
                function=name,
            )
        if isinstance(node, exp.Func):
            for name in _names(node):
                if denied(name):
                    written = function_name(node)
                    raise Rejected(
                        "forbidden_function",
                        f"the function {written} is not allowed",
                        hint="only functions that compute on query data may be called",
                        function=written,
                    )


def _names(node: exp.Func) -> tuple[str, ...]:
    if isinstance(node, exp.Anonymous):
        return (node.name.lower(),)
    return _class_names(type(node))


_CLASS_NAMES: dict[type[exp.Func], tuple[str, ...]] = {}


def _class_names(cls: type[exp.Func]) -> tuple[str, ...]:
    names = _CLASS_NAMES.get(cls)
    if names is None:
        names = _CLASS_NAMES[cls] = tuple(name.lower() for name in cls.sql_names())
    return names


@lru_cache(maxsize=64)
def _matcher(patterns: frozenset[str], exempt: frozenset[str]) -> _Matcher:
    return _Matcher(patterns, exempt)


class _Matcher:
    def __init__(self, patterns: frozenset[str], exempt: frozenset[str]) -> None:
        self._exact = frozenset(p for p in patterns if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in patterns if p.endswith("*"))
        self._exempt = exempt

    def __call__(self, name: str) -> bool:
        if name in self._exempt:
            return False
        return name in self._exact or name.startswith(self._prefixes)
