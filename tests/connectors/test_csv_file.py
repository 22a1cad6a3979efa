"""The CSV file connector: reading uploads with a resumable cursor, writing an export file."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.base import ChangePage, ConnectionSettings, ConnectorError, WriteItem
from connectors.providers.csv_file import storage
from connectors.providers.csv_file.client import CsvFileClient, CsvFileConfig
from connectors.registry import get_provider

CONTACTS = (
    "email,first_name,age,subscribed\n"
    "ada@example.com,Ada,36,yes\n"
    "bob@example.com,Bob,,no\n"
    "cleo@example.com,Cléo,29,true\n"
)


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


CONNECTION_ID = 7


def exports_of(data_dir: Path, connection_id: int = CONNECTION_ID) -> Path:
    return data_dir / "exports" / "connections" / str(connection_id)


def make_client(connection_id: int | None = CONNECTION_ID, **config: Any) -> CsvFileClient:
    client = get_provider("csv_file").client(ConnectionSettings(connection_id, config, {}))
    assert isinstance(client, CsvFileClient)
    return client


def read_all(client: CsvFileClient, cursor: str | None = None, page_size: int = 100) -> list[ChangePage]:
    return list(client.list_changes("rows", cursor, page_size=page_size))


def export_rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


# -- reading -----------------------------------------------------------------------------------------


def test_header_row_becomes_the_schema_with_declared_types() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="contacts.csv", content=CONTACTS.encode())
    client = make_client(import_file="contacts.csv", field_types="age:number, subscribed:boolean")

    schema = client.discover_schema("rows")

    assert [(f.name, f.type) for f in schema.fields] == [
        ("email", "string"),
        ("first_name", "string"),
        ("age", "number"),
        ("subscribed", "boolean"),
    ]


def test_rows_are_read_with_declared_types_and_key_column_ids() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="contacts.csv", content=CONTACTS.encode())
    client = make_client(
        import_file="contacts.csv", key_column="email", field_types={"age": "number", "subscribed": "boolean"}
    )

    records = [r for page in read_all(client) for r in page.records]

    assert [r.id for r in records] == ["ada@example.com", "bob@example.com", "cleo@example.com"]
    assert records[0].fields == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "age": 36,
        "subscribed": True,
    }
    assert records[1].fields["age"] is None  # an empty cell of a typed column is no value
    assert records[2].fields["first_name"] == "Cléo"


def test_a_value_that_does_not_parse_as_its_declared_type_stays_text() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=b"email,age\na@x.com,thirty\n")
    client = make_client(import_file="c.csv", field_types="age:number")
    assert read_all(client)[0].records[0].fields["age"] == "thirty"


def test_without_a_key_column_rows_are_identified_by_position() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=CONTACTS.encode())
    records = read_all(make_client(import_file="c.csv"))[0].records
    assert [r.id for r in records] == ["row-1", "row-2", "row-3"]


def test_paging_resumes_from_the_stored_cursor_without_skipping_a_row() -> None:
    lines = ["email,n"] + [f"u{i}@example.com,{i}" for i in range(25)]
    storage.save_upload(
        connection_id=CONNECTION_ID, name="many.csv", content=("\n".join(lines) + "\n").encode()
    )
    client = make_client(import_file="many.csv", key_column="email")

    pages = read_all(client, page_size=10)
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert [p.has_more for p in pages] == [True, True, False]

    # A crash after the first page: resuming from its cursor reads exactly the rest.
    resumed = read_all(client, pages[0].cursor, page_size=10)
    ids = [r.id for page in resumed for r in page.records]
    assert ids == [f"u{i}@example.com" for i in range(10, 25)]


def test_an_unchanged_file_reads_nothing_and_a_changed_upload_is_read_again() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=CONTACTS.encode())
    client = make_client(import_file="c.csv", key_column="email")
    cursor = read_all(client)[-1].cursor

    idle = read_all(client, cursor)
    assert [len(p.records) for p in idle] == [0]
    assert idle[-1].cursor == cursor

    storage.save_upload(
        connection_id=CONNECTION_ID, name="c.csv", content=(CONTACTS + "dan@example.com,Dan,41,no\n").encode()
    )
    reread = [r.id for page in read_all(client, cursor) for r in page.records]
    assert reread == ["ada@example.com", "bob@example.com", "cleo@example.com", "dan@example.com"]
    assert (
        json.loads(read_all(client, cursor)[-1].cursor or "")["sha256"] != json.loads(cursor or "")["sha256"]
    )


def test_semicolons_and_latin_1_are_read_when_configured() -> None:
    content = "email;name\nzoe@example.com;Zoë\n".encode("latin-1")
    storage.save_upload(connection_id=CONNECTION_ID, name="eu.csv", content=content)
    client = make_client(import_file="eu.csv", delimiter=";", encoding="latin-1")
    assert read_all(client)[0].records[0].fields == {"email": "zoe@example.com", "name": "Zoë"}


def test_a_file_in_the_wrong_encoding_says_which_line_and_what_to_change() -> None:
    storage.save_upload(
        connection_id=CONNECTION_ID, name="eu.csv", content="email\na@x.com\nzoë@x.com\n".encode("latin-1")
    )
    client = make_client(import_file="eu.csv", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"not valid utf-8 text at line 3 .*encoding"):
        read_all(client)


def test_blank_lines_are_skipped_and_extra_cells_are_kept_not_dropped() -> None:
    storage.save_upload(
        connection_id=CONNECTION_ID, name="c.csv", content=b"email,name\n\na@x.com,A,surplus\n"
    )
    records = read_all(make_client(import_file="c.csv"))[0].records
    assert len(records) == 1
    assert records[0].fields == {"email": "a@x.com", "name": "A", "_extra": ["surplus"]}
    assert records[0].id == "row-2"  # positions count the blank line, so ids stay stable


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"email,,name\n", "needs a name"),
        (b"email,email\n", "repeats column"),
    ],
)
def test_a_bad_header_is_reported(content: bytes, message: str) -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="bad.csv", content=content)
    with pytest.raises(ConnectorError, match=message):
        read_all(make_client(import_file="bad.csv"))


def test_a_missing_key_column_or_declared_type_column_is_reported() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=CONTACTS.encode())
    with pytest.raises(ConnectorError, match="key column 'id' is not in the CSV header"):
        read_all(make_client(import_file="c.csv", key_column="id"))
    with pytest.raises(ConnectorError, match="field_types names column"):
        read_all(make_client(import_file="c.csv", field_types="score:number"))


def test_a_file_not_uploaded_yet_is_reported() -> None:
    with pytest.raises(ConnectorError, match="has not been uploaded yet"):
        read_all(make_client(import_file="later.csv"))


# -- paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../secrets.csv", "/etc/passwd", "a/../../b.csv", "a\\b.csv", "./x.csv"])
def test_path_traversal_is_refused_in_the_settings(name: str) -> None:
    with pytest.raises(ValidationError):
        CsvFileConfig.model_validate({"import_file": name})
    with pytest.raises(ValidationError):
        CsvFileConfig.model_validate({"export_file": name})


def test_a_symlink_out_of_the_exports_folder_is_refused(data_dir: Path, tmp_path_factory: Any) -> None:
    outside = tmp_path_factory.mktemp("outside")
    exports_of(data_dir).mkdir(parents=True)
    os.symlink(outside, exports_of(data_dir) / "escape")
    client = make_client(export_file="escape/out.csv")
    with pytest.raises(ConnectorError, match="outside the exports folder"):
        client.upsert_batch("rows", [WriteItem("1", {"email": "a@x.com"})], match_field="email")
    assert list(outside.iterdir()) == []


def test_connections_naming_the_same_export_file_each_write_their_own(data_dir: Path) -> None:
    make_client(1, export_file="out.csv").upsert_batch(
        "rows", [WriteItem("1", {"email": "ada@a.example"})], match_field="email"
    )
    make_client(2, export_file="out.csv").upsert_batch(
        "rows", [WriteItem("1", {"email": "bob@b.example"})], match_field="email"
    )

    assert export_rows(exports_of(data_dir, 1) / "out.csv") == [{"email": "ada@a.example"}]
    assert export_rows(exports_of(data_dir, 2) / "out.csv") == [{"email": "bob@b.example"}]
    assert not (data_dir / "exports" / "out.csv").exists()


def test_an_unsaved_connection_writes_no_export(data_dir: Path) -> None:
    client = make_client(None, export_file="out.csv")

    with pytest.raises(ConnectorError, match="Save the connection"):
        client.upsert_batch("rows", [WriteItem("1", {"email": "a@x.com"})], match_field="email")
    assert not (data_dir / "exports").exists()


def test_an_upload_with_a_traversal_name_is_refused(data_dir: Path) -> None:
    with pytest.raises(storage.UnsafePathError):
        storage.save_upload(connection_id=CONNECTION_ID, name="../../evil.csv", content=b"x")
    assert not (data_dir.parent / "evil.csv").exists()


def test_connections_naming_the_same_import_file_each_read_their_own_upload(data_dir: Path) -> None:
    storage.save_upload(connection_id=1, name="contacts.csv", content=b"email\nada@a.example\n")
    storage.save_upload(connection_id=2, name="contacts.csv", content=b"email\nbob@b.example\n")

    first = [
        r.id
        for page in read_all(make_client(1, import_file="contacts.csv", key_column="email"))
        for r in page.records
    ]
    second = [
        r.id
        for page in read_all(make_client(2, import_file="contacts.csv", key_column="email"))
        for r in page.records
    ]

    assert (first, second) == (["ada@a.example"], ["bob@b.example"])
    assert not (data_dir / "uploads" / "contacts.csv").exists()


def test_an_upload_cannot_reach_another_connections_folder(data_dir: Path) -> None:
    storage.save_upload(connection_id=1, name="contacts.csv", content=CONTACTS.encode())

    with pytest.raises(storage.UnsafePathError):
        storage.save_upload(connection_id=2, name="../1/contacts.csv", content=b"email\nx@x.com\n")
    with pytest.raises(storage.UnsafePathError):
        storage.resolve_upload(connection_id=2, name="../1/contacts.csv")
    # A link inside one connection's folder that points at another's is refused as well.
    own = data_dir / "uploads" / "connections" / "2"
    own.mkdir(parents=True)
    os.symlink(data_dir / "uploads" / "connections" / "1", own / "link")
    with pytest.raises(ConnectorError, match="outside the uploads folder"):
        read_all(make_client(2, import_file="link/contacts.csv"))
    assert (data_dir / "uploads" / "connections" / "1" / "contacts.csv").read_bytes() == CONTACTS.encode()


def test_a_client_without_a_saved_connection_reads_no_upload() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=CONTACTS.encode())
    with pytest.raises(ConnectorError, match="Save the connection"):
        read_all(make_client(None, import_file="c.csv"))


def test_settings_need_a_file_and_a_one_character_delimiter() -> None:
    with pytest.raises(ValidationError, match="set import_file, export_file, or both"):
        CsvFileConfig.model_validate({})
    with pytest.raises(ValidationError, match="one character"):
        CsvFileConfig.model_validate({"import_file": "a.csv", "delimiter": ";;"})
    with pytest.raises(ValidationError, match="unknown text encoding"):
        CsvFileConfig.model_validate({"import_file": "a.csv", "encoding": "klingon"})
    assert CsvFileConfig.model_validate({"import_file": "a.csv", "delimiter": "tab"}).delimiter == "\t"


# -- writing -----------------------------------------------------------------------------------------


def test_export_creates_the_file_then_updates_rows_by_match_field(data_dir: Path) -> None:
    client = make_client(export_file="crm/contacts.csv")

    first = client.upsert_batch(
        "rows",
        [
            WriteItem("1", {"email": "ada@example.com", "name": "Ada"}),
            WriteItem("2", {"email": "bob@example.com", "name": "Bob"}),
        ],
        match_field="email",
    )
    second = client.upsert_batch(
        "rows",
        [
            WriteItem("1", {"email": "ada@example.com", "phone": "+44 20 7946 0000"}),
            WriteItem("3", {"email": "cleo@example.com", "name": "Cléo"}),
        ],
        match_field="email",
    )

    assert [(r.action, r.target_id) for r in first] == [
        ("created", "ada@example.com"),
        ("created", "bob@example.com"),
    ]
    assert [(r.action, r.target_id) for r in second] == [
        ("updated", "ada@example.com"),
        ("created", "cleo@example.com"),
    ]
    rows = export_rows(exports_of(data_dir) / "crm" / "contacts.csv")
    assert rows == [
        {"email": "ada@example.com", "name": "Ada", "phone": "+44 20 7946 0000"},
        {"email": "bob@example.com", "name": "Bob", "phone": ""},
        {"email": "cleo@example.com", "name": "Cléo", "phone": ""},
    ]


def test_a_linked_row_is_found_by_its_target_id_even_when_its_key_changes(data_dir: Path) -> None:
    client = make_client(export_file="out.csv")
    client.upsert_batch("rows", [WriteItem("1", {"email": "old@example.com", "n": 1})], match_field="email")

    result = client.upsert_batch(
        "rows",
        [WriteItem("1", {"email": "new@example.com"}, target_id="old@example.com")],
        match_field="email",
    )[0]

    assert (result.action, result.target_id) == ("updated", "new@example.com")
    assert export_rows(exports_of(data_dir) / "out.csv") == [{"email": "new@example.com", "n": "1"}]


def test_values_are_written_as_text_people_can_read(data_dir: Path) -> None:
    client = make_client(export_file="out.tsv", delimiter="tab", encoding="utf-8")
    client.upsert_batch(
        "rows",
        [WriteItem("1", {"email": "a@x.com", "vip": True, "tags": ["a", "b"], "none": None, "n": 1.5})],
        match_field="email",
    )
    row = export_rows(exports_of(data_dir) / "out.tsv", encoding="utf-8", delimiter="\t")[0]
    assert row == {"email": "a@x.com", "vip": "true", "tags": '["a","b"]', "none": "", "n": "1.5"}


def test_a_row_without_a_match_value_or_with_unencodable_text_fails_alone(data_dir: Path) -> None:
    client = make_client(export_file="out.csv", encoding="latin-1")
    results = client.upsert_batch(
        "rows",
        [
            WriteItem("1", {"name": "No email"}),
            WriteItem("2", {"email": "x@example.com", "name": "Łukasz"}),
            WriteItem("3", {"email": "ok@example.com", "name": "Zoë"}),
        ],
        match_field="email",
    )
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].error == "No email to match the CSV row on; the row was not written."
    assert "cannot be written in latin-1" in (results[1].error or "")
    assert export_rows(exports_of(data_dir) / "out.csv", encoding="latin-1") == [
        {"email": "ok@example.com", "name": "Zoë"}
    ]


def test_the_export_is_replaced_atomically_and_leaves_no_temporary_files(data_dir: Path) -> None:
    client = make_client(export_file="out.csv")
    for i in range(3):
        client.upsert_batch("rows", [WriteItem(str(i), {"email": f"u{i}@x.com"})], match_field="email")
    names = sorted(p.name for p in exports_of(data_dir).iterdir())
    assert names == [".out.csv.lock", "out.csv"]
    content = (exports_of(data_dir) / "out.csv").read_bytes().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(content))) == [["email"], ["u0@x.com"], ["u1@x.com"], ["u2@x.com"]]


def test_an_import_only_connection_cannot_be_written() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=CONTACTS.encode())
    with pytest.raises(ConnectorError, match="no export file"):
        make_client(import_file="c.csv").upsert_batch("rows", [WriteItem("1", {})], match_field="email")


def test_connection_test_describes_both_files() -> None:
    storage.save_upload(connection_id=CONNECTION_ID, name="c.csv", content=CONTACTS.encode())
    assert make_client(import_file="c.csv", export_file="o.csv").test() == (
        "CSV import c.csv (4 columns), export o.csv"
    )
