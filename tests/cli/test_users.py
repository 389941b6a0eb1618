"""``bioblocks user``, ``group`` and ``token`` with users, scopes and expiry."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.config import Settings
from bioblocks.store import find_token, open_store, user_roles

RUNNER = CliRunner()


def test_user_group_token_commands(tmp_path: Path) -> None:
    env = {"BIOBLOCKS_DATA_DIR": str(tmp_path / "files"), "BIOBLOCKS_DATABASE_URL": None,
           "COLUMNS": "200"}
    for args in (["user", "create", "ana"], ["group", "create", "lab"],
                 ["group", "add", "lab", "ana", "--role", "writer"]):
        result = RUNNER.invoke(cli.app, args, env=env)
        assert result.exit_code == 0, result.output
    made = RUNNER.invoke(cli.app, ["token", "create", "--user", "ana", "--scope", "write",
                                   "--expires", "30d"], env=env)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    store = open_store(Settings(data_dir=tmp_path / "files"))
    try:
        record = find_token(store, token)
        assert record is not None and (record.user, record.scope) == ("ana", "write")
        assert user_roles(store, "ana") == (False, {"lab": "writer"})
    finally:
        store.close()
    listed = RUNNER.invoke(cli.app, ["token", "list", "--format", "json"], env=env)
    assert listed.exit_code == 0 and '"user": "ana"' in listed.stdout
    assert '"scope": "write"' in listed.stdout and '"state": "active"' in listed.stdout
    revoked = RUNNER.invoke(cli.app, ["token", "revoke", f"#{record.id}"], env=env)
    assert revoked.exit_code == 0, revoked.output
    listed = RUNNER.invoke(cli.app, ["token", "list", "--format", "json"], env=env)
    assert '"state": "revoked"' in listed.stdout
    bad = RUNNER.invoke(cli.app, ["token", "create", "--user", "ana", "--expires", "soon"],
                        env=env)
    assert bad.exit_code != 0 and "not a duration" in bad.output
    missing = RUNNER.invoke(cli.app, ["token", "create"], env=env)
    assert missing.exit_code != 0 and "--user NAME" in missing.output
