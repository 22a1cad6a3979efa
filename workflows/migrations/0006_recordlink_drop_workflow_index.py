"""Drop `RecordLink.workflow`'s own index: the unique (workflow, source_id) index starts with the same column.

Only the index is dropped. Letting `AlterField` do it would also drop and re-create the foreign key, which
re-checks every link under a lock: long on a large table, and nothing about the key changes.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def _workflow_indexes(schema_editor: Any, model: Any) -> list[str]:
    names: list[str] = schema_editor._constraint_names(
        model, ["workflow_id"], index=True, unique=False, primary_key=False
    )
    return names


def drop_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("workflows", "RecordLink")
    for name in _workflow_indexes(schema_editor, model):
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("workflows", "RecordLink")
    if not _workflow_indexes(schema_editor, model):
        field = model._meta.get_field("workflow")
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0005_webhook_order_and_rate"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="recordlink",
                    name="workflow",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="links",
                        to="workflows.workflow",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]
