"""``retention`` and ``url_mode`` on keys and teams, set the way other policy fields are (the
admin API, ``imagegate keys``/``teams``), shown in their views, and carried by the principal
(the key's own, else its team's; unset: the deployment's)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.db_keys import DbKeys
from app.cli import main
from app.domain import Principal
from app.images_index.policy import expiry, url_mode_of
from tests.images_index.helpers import ADMIN, keyed, now
from tests.support.config import MakeConfig, base_config, write_config
from tests.support.keys import add_key, add_team, serve_with_database


async def test_the_admin_api_sets_shows_and_clears_them(
    make_config: MakeConfig, engine: AsyncEngine
) -> None:
    async with serve_with_database(make_config(keyed), engine) as client:
        team = await client.post(
            "/admin/v1/teams", json={"name": "design", "retention": "7d"}, headers=ADMIN
        )
        assert team.status_code == 201, team.text
        assert (team.json()["retention"], team.json()["retention_seconds"]) == ("7d", 604_800)
        created = await client.post(
            "/admin/v1/keys",
            json={"name": "alice", "retention": 5400, "url_mode": "signed"},
            headers=ADMIN,
        )
        key = created.json()
        assert (key["retention"], key["retention_seconds"], key["url_mode"]) == (
            "90m",
            5400,
            "signed",
        )
        path = f"/admin/v1/keys/{key['id']}"
        patched = await client.patch(path, json={"retention": "0"}, headers=ADMIN)
        assert (patched.json()["retention"], patched.json()["url_mode"]) == ("0", "signed")
        cleared = await client.patch(
            path, json={"retention": None, "url_mode": None}, headers=ADMIN
        )
        assert (cleared.json()["retention"], cleared.json()["url_mode"]) == (None, None)
        shown = (await client.get(path, headers=ADMIN)).json()
        assert (shown["retention_seconds"], shown["url_mode"]) == (None, None)
        for body, param in (
            ({"retention": "soon"}, "retention"),
            ({"retention": -5}, "retention"),
            ({"retention": True}, "retention"),
            ({"retention": "36501d"}, "retention"),
            ({"retention": 1e300}, "retention"),
            ({"url_mode": "cdn"}, "url_mode"),
        ):
            response = await client.patch(path, json=body, headers=ADMIN)
            assert response.status_code == 400, body
            assert response.json()["error"]["param"] == param


async def test_the_principal_carries_the_keys_setting_else_the_teams(engine: AsyncEngine) -> None:
    team = await add_team(engine, "design", retention_seconds=3600, url_mode="proxy")
    _, member = await add_key(engine, "member", team=team)
    _, own = await add_key(engine, "own", team=team, retention_seconds=0, url_mode="public")
    _, lone = await add_key(engine, "lone")
    keys = DbKeys(engine)
    by_team, by_key, unset = [await keys.authenticate(s) for s in (member, own, lone)]
    assert by_team and by_key and unset
    assert (by_team.retention, url_mode_of(by_team)) == (3600, "proxy")
    assert (by_key.retention, url_mode_of(by_key)) == (0, "public")
    assert (unset.retention, url_mode_of(unset)) == (None, None)
    moment = now()
    assert expiry(moment, by_key.retention, 86_400) is None  # 0 keeps forever
    assert expiry(moment, unset.retention, 0) is None
    assert (expiry(moment, unset.retention, 60) - moment).total_seconds() == 60  # type: ignore[operator]
    assert url_mode_of(Principal(id="k", name="k", url_mode="cdn")) is None  # not a mode
    far = expiry(moment, None, 10**12)  # a config's absurd retention: a century, not a crash
    assert far is not None and 99 <= far.year - moment.year <= 100


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(write_config(tmp_path, base_config(tmp_path))))
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_the_cli_sets_them_like_other_policy_options(cli) -> None:
    code, _, err = cli("teams", "create", "design", "--retention", "30d", "--url-mode", "proxy")
    assert code == 0, err
    code, secret, err = cli(
        "keys", "create", "--name", "ci", "--team", "design", "--retention", "12h"
    )
    assert code == 0 and secret.startswith("ig-"), err
    code, out, _ = cli("keys", "show", "ci")
    shown = orjson.loads(out)
    assert (shown["retention"], shown["retention_seconds"], shown["url_mode"]) == (
        "12h",
        43_200,
        None,
    )
    code, out, _ = cli("keys", "update", "ci", "--retention", "none", "--url-mode", "signed")
    assert code == 0
    shown = orjson.loads(cli("keys", "show", "ci")[1])
    assert (shown["retention"], shown["url_mode"]) == (None, "signed")
    code, _, err = cli("keys", "update", "ci", "--retention", "later")
    assert code != 0 and "retention" in err
    team = orjson.loads(cli("teams", "show", "design")[1])
    assert (team["retention"], team["url_mode"]) == ("30d", "proxy")
