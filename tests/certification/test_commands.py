"""`suanli racks import` registers good rows and reports bad ones; `suanli signing-key rotate` adds a key."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from suanli.controlplane.certification import keystore
from suanli.controlplane.certification.tables import signing_keys
from suanli.controlplane.cli import main
from suanli.controlplane.db import create_engine
from suanli.controlplane.store.tables import datacenters, racks
from suanli.national.progress import Progress
from suanli.schema import utc_now


async def _rows(database_url: str, query):  # noqa: ANN001, ANN202
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(query)).all()
    finally:
        await engine.dispose()


def test_racks_import_registers_good_rows_and_reports_bad_ones(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "racks.csv"
    path.write_text(
        "datacenter,name,rated_kw,height_u,room,province\n"
        "dc-a,R01,10,42,H1,CN-SD\n"
        "dc-a,R02,7.5,42,H1,\n"  # province known from the row above
        "dc-b,R01,5,42,,\n"  # new data center without a province
        "dc-a,R03,oops,42,,\n"
    )
    assert main(["racks", "import", str(path), "--database", database_url]) == 1
    output = capsys.readouterr()
    assert "imported 2 racks, 2 rows refused" in output.out
    assert "row 4: province: data center dc-b is new" in output.err
    assert "row 5: rated_kw: not a number" in output.err
    rows = asyncio.run(_rows(database_url, select(datacenters.c.name, racks.c.name, racks.c.rated_kw, racks.c.room)
                             .join(datacenters, datacenters.c.id == racks.c.datacenter_id).order_by(racks.c.name)))
    assert [tuple(r) for r in rows] == [("dc-a", "R01", 10.0, "H1"), ("dc-a", "R02", 7.5, "H1")]
    path.write_text("datacenter,name,rated_kw,height_u,room,province\ndc-a,R01,12,42,H1,CN-SD\n")
    assert main(["racks", "import", str(path), "--database", database_url]) == 0
    rated = asyncio.run(_rows(database_url, select(racks.c.rated_kw).where(racks.c.name == "R01")))
    assert [r[0] for r in rated] == [12.0]


def test_signing_key_rotate_adds_an_active_key_and_keeps_the_old_published(database_url: str) -> None:
    assert main(["signing-key", "rotate", "--database", database_url]) == 0
    assert main(["signing-key", "rotate", "--database", database_url]) == 0
    rows = asyncio.run(_rows(database_url, select(signing_keys).order_by(signing_keys.c.created_at)))
    assert len(rows) == 3 and [r.retired_at is None for r in rows] == [False, False, True]

    async def jwks() -> dict:
        engine = create_engine(database_url)
        try:
            return await keystore.published_jwks(engine, utc_now())
        finally:
            await engine.dispose()

    assert len(asyncio.run(jwks())["keys"]) == 3


def test_encrypted_signing_keys_need_the_passphrase(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_CERTIFICATION__SIGNING_KEY_PASSPHRASE", "s3cret")
    assert main(["signing-key", "rotate", "--database", database_url]) == 0
    rows = asyncio.run(_rows(database_url, select(signing_keys)))
    assert all(r.encrypted and "ENCRYPTED" in r.private_key_pem for r in rows)

    async def load(passphrase: bytes) -> int:
        engine = create_engine(database_url)
        try:
            return len(await keystore.load_keys(engine, utc_now(), passphrase))
        finally:
            await engine.dispose()

    assert asyncio.run(load(b"s3cret")) == 2
    with pytest.raises(ValueError):
        asyncio.run(load(b"wrong"))


def test_progress_draws_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    Progress("racks", quiet).update(5, 10)
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    bar = Progress("racks", shown, force=True)
    bar.update(10, 10)
    bar.close()
    assert shown.getvalue().startswith("\rracks [") and "10/10" in shown.getvalue()


def test_summary_may_not_outlive_the_keys_that_sign_it() -> None:
    from suanli.controlplane.certification.settings import CertificationSettings

    with pytest.raises(ValueError, match="summary_validity_s"):
        CertificationSettings(certificate_validity_s=600, summary_validity_s=3600)
    assert CertificationSettings(certificate_validity_s=3600, summary_validity_s=3600).validity.total_seconds() == 3600
