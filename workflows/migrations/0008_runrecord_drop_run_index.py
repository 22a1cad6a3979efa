"""Drop `RunRecord.run`'s own index: the (run, id) page index starts with the same column.

Every record a run writes updated both. Only that index is dropped (the partial indexes on `run` alone
that `Meta.indexes` names stay); letting `AlterField` do it would also drop and re-create the foreign
key, which re-checks every run record under a lock.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def _run_indexes(schema_editor: Any, model: Any) -> list[str]:
    named = {index.name for index in model._meta.indexes}
    names: list[str] = schema_editor._constraint_names(
        model, ["run_id"], index=True, unique=False, primary_key=False
    )
    return [name for name in names if name not in named]


def drop_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("workflows", "RunRecord")
    for name in _run_indexes(schema_editor, model):
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("workflows", "RunRecord")
    if not _run_indexes(schema_editor, model):
        field = model._meta.get_field("run")
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0007_runrecord_page_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="runrecord",
                    name="run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="records",
                        to="workflows.run",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]
