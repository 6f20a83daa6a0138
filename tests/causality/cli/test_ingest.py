"""`causality keys create|list|revoke`: the key is printed once and stored only as a hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from causality.cli.ingest import keys
from metadata import KeyStore, open_db


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    monkeypatch.setenv("CAUSALITY_METADATA_URL", url)
    return url


def test_create_prints_the_key_once_and_stores_its_hash(env: str) -> None:
    result = CliRunner().invoke(keys, ["create", "--app", "shop", "--label", "web"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.splitlines()[0]
    assert plain.startswith("ck_")
    store = KeyStore(open_db(env))
    assert store.verify(plain) is not None and store.verify(plain).app_id == "shop"  # type: ignore[union-attr]
    with open_db(env).connect() as conn:
        dumped = " ".join(str(v) for row in conn.execute(sa.text("select * from api_keys"))
                          for v in row)
    assert plain not in dumped
    listed = CliRunner().invoke(keys, ["list", "--json"])
    assert plain not in listed.output
    (row,) = json.loads(listed.output)
    assert (row["app_id"], row["label"], row["revoked_at"]) == ("shop", "web", None)


def test_revoke_and_list_active(env: str) -> None:
    plain = CliRunner().invoke(keys, ["create", "--app", "shop"]).stdout.splitlines()[0]
    CliRunner().invoke(keys, ["create", "--app", "news"])
    key_id = KeyStore(open_db(env)).list("shop")[0].key_id
    result = CliRunner().invoke(keys, ["revoke", key_id])
    assert result.exit_code == 0 and "within 5 s" in result.output
    assert KeyStore(open_db(env)).verify(plain) is None
    active = CliRunner().invoke(keys, ["list", "--active"]).output
    assert "news" in active and "shop" not in active
    assert "revoked" in CliRunner().invoke(keys, ["list", "--app", "shop"]).output


def test_bad_app_and_unknown_key_are_clean_errors(env: str) -> None:
    from causality.cli import main

    root = type(main)(commands={"keys": keys})  # the CLI's group class: errors → exit 2 + hint
    bad = CliRunner().invoke(root, ["keys", "create", "--app", "Not Valid"])
    assert bad.exit_code == 2 and "bad_app_id" in bad.output and "Traceback" not in bad.output
    unknown = CliRunner().invoke(root, ["keys", "revoke", "nope"])
    assert unknown.exit_code == 2 and "unknown_key" in unknown.output
