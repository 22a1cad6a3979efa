"""Uploading the import file of a CSV connection in the browser: stored for the next read when it is a
usable CSV, refused with a message that says what to do when it is not (the previous upload stays)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from connectors.base import ConnectorError
from connectors.models import Connection
from connectors.providers.csv_file import storage
from connectors.providers.csv_file.uploads import csv_uploads_move_shared
from connectors.services import client_for, connection_create
from integrations_hub.audit.models import AuditEntry

GOOD = b"email,name,age\nada@example.com,Ada,36\nbob@example.com,Bob,41\n"


@pytest.fixture(autouse=True)
def _own_data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = str(tmp_path)


@pytest.fixture
def contacts(team: Any) -> Connection:
    return connection_create(
        team=team,
        name="Contacts file",
        kind="csv_file",
        config={"import_file": "tests/upload-contacts.csv", "key_column": "email"},
        credentials={},
    )


def upload(client: Client, connection: Connection, content: bytes, name: str = "contacts.csv") -> Any:
    return client.post(
        reverse("connection_upload", args=[connection.pk]),
        {"file": SimpleUploadedFile(name, content, content_type="text/csv")},
        follow=True,
    )


def flashed(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def stored(connection: Connection) -> bytes | None:
    path = storage.resolve_upload(connection_id=connection.pk, name=connection.config["import_file"])
    return path.read_bytes() if path.exists() else None


def test_an_uploaded_csv_becomes_the_rows_the_connection_reads(
    editor_client: Client, editor: Any, contacts: Connection
) -> None:
    response = upload(editor_client, contacts, GOOD)

    assert flashed(response) == ["tests/upload-contacts.csv uploaded: 2 rows, columns email, name, age."]
    assert stored(contacts) == GOOD
    pages = list(client_for(contacts).list_changes("rows", None))
    assert [dict(r.fields) for page in pages for r in page.records] == [
        {"email": "ada@example.com", "name": "Ada", "age": "36"},
        {"email": "bob@example.com", "name": "Bob", "age": "41"},
    ]
    entry = AuditEntry.objects.get(action="connection.file_uploaded")
    assert entry.actor == editor
    assert entry.changes["rows"] == 2 and entry.changes["uploaded_as"] == "contacts.csv"


def test_the_detail_page_of_a_csv_connection_offers_the_upload(
    editor_client: Client, contacts: Connection
) -> None:
    page = editor_client.get(reverse("connection_detail", args=[contacts.pk]))

    text = page.content.decode()
    assert reverse("connection_upload", args=[contacts.pk]) in text
    assert 'enctype="multipart/form-data"' in text


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (
            b"PK\x03\x04\x14\x00\x06\x00binary",
            "contacts.csv",
            "The file is an Excel workbook or another zip file",
        ),
        (b"email,name\x00\x01\x02", "contacts.csv", "The file is binary, not CSV text"),
        (GOOD, "contacts.exe", "contacts.exe is not a CSV file: upload a .csv, .tsv or .txt file"),
        (b"email,name\nz\xe9@example.com,Z\xe9\n", "contacts.csv", "Line 2 is not utf-8-sig text."),
        (b"", "contacts.csv", "The file is empty."),
        (b"email,,age\na@example.com,A,1\n", "contacts.csv", "The first row must name every column."),
        (b"email,name,email\na,b,c\n", "contacts.csv", "The first row names email more than once."),
        (b"name,age\nAda,36\n", "contacts.csv", "The file has no 'email' column, which identifies its rows"),
        (
            b"email;name\na@example.com;A\n",
            "contacts.csv",
            "does not seem to use the connection's delimiter (',')",
        ),
    ],
)
def test_an_unusable_file_is_refused_with_what_to_do_and_the_previous_upload_stays(
    editor_client: Client, contacts: Connection, content: bytes, name: str, message: str
) -> None:
    upload(editor_client, contacts, GOOD)

    response = upload(editor_client, contacts, content, name)

    messages = flashed(response)
    assert len(messages) == 1 and message in messages[0], messages
    assert stored(contacts) == GOOD


def test_a_file_over_the_size_limit_is_refused(
    editor_client: Client, contacts: Connection, settings: Any
) -> None:
    settings.HUB_CSV_MAX_UPLOAD_BYTES = 40

    response = upload(editor_client, contacts, GOOD)

    assert flashed(response) == ["The file is larger than 40 bytes; split it into smaller files."]
    assert stored(contacts) is None


def test_a_connection_without_an_import_file_takes_no_upload(editor_client: Client, team: Any) -> None:
    export_only = connection_create(
        team=team, name="Export", kind="csv_file", config={"export_file": "tests/out.csv"}, credentials={}
    )

    response = upload(editor_client, export_only, GOOD)

    assert flashed(response) == [
        "This connection has no import file: set import_file in its settings before uploading."
    ]


def test_choosing_no_file_says_so(editor_client: Client, contacts: Connection) -> None:
    response = editor_client.post(reverse("connection_upload", args=[contacts.pk]), follow=True)

    assert flashed(response) == ["Choose a CSV file to upload."]


def test_another_teams_member_cannot_upload(outsider_client: Client, contacts: Connection) -> None:
    response = outsider_client.post(
        reverse("connection_upload", args=[contacts.pk]),
        {"file": SimpleUploadedFile("contacts.csv", GOOD, content_type="text/csv")},
    )

    assert response.status_code == 404
    assert stored(contacts) is None


def rows_read(connection: Connection) -> list[dict[str, object]]:
    return [
        dict(r.fields) for page in client_for(connection).list_changes("rows", None) for r in page.records
    ]


def test_two_teams_uploading_the_same_file_name_each_read_only_their_own_rows(
    editor: Any, outsider: Any, contacts: Connection, other_team: Any
) -> None:
    editor_client, outsider_client = Client(), Client()
    editor_client.force_login(editor)
    outsider_client.force_login(outsider)
    theirs = connection_create(
        team=other_team,
        name="Their contacts",
        kind="csv_file",
        config={"import_file": contacts.config["import_file"], "key_column": "email"},
        credentials={},
    )
    upload(editor_client, contacts, GOOD)

    # Before their own upload the other team reads nothing, not this team's file.
    assert rows_read(contacts) == [
        {"email": "ada@example.com", "name": "Ada", "age": "36"},
        {"email": "bob@example.com", "name": "Bob", "age": "41"},
    ]
    with pytest.raises(ConnectorError, match="has not been uploaded yet"):
        rows_read(theirs)

    upload(outsider_client, theirs, b"email,name,age\neve@example.com,Eve,50\n")

    assert rows_read(theirs) == [{"email": "eve@example.com", "name": "Eve", "age": "50"}]
    assert stored(contacts) == GOOD
    assert len(rows_read(contacts)) == 2


def test_uploads_from_the_shared_folder_move_to_the_connection_that_names_them(
    contacts: Connection, team: Any, other_team: Any
) -> None:
    shared = storage.area_root("uploads")
    (shared / "tests").mkdir(parents=True)
    (shared / "tests" / "upload-contacts.csv").write_bytes(GOOD)
    (shared / "both.csv").write_bytes(b"email\nx@example.com\n")
    mine = connection_create(
        team=team, name="Mine", kind="csv_file", config={"import_file": "both.csv"}, credentials={}
    )
    theirs = connection_create(
        team=other_team, name="Theirs", kind="csv_file", config={"import_file": "both.csv"}, credentials={}
    )

    report = csv_uploads_move_shared()

    assert report.moved == {"tests/upload-contacts.csv": [contacts.pk]}
    assert report.ambiguous == {"both.csv": [mine.pk, theirs.pk]}
    assert stored(contacts) == GOOD and len(rows_read(contacts)) == 2
    assert not (shared / "tests" / "upload-contacts.csv").exists()
    # A file two teams name cannot be attributed: it stays put and neither connection reads it.
    assert (shared / "both.csv").exists() and stored(mine) is None and stored(theirs) is None
    assert csv_uploads_move_shared().moved == {}
