"""Order `StepLink`'s unique index (workflow, source_id, step_id), and drop `StepLink.workflow`'s own index.

A multi-step workflow looks up the links of a page's source records, every step's at once
(`workflow = … AND source_id IN (…)`). With the step before the source id in the index, that lookup could
only use the workflow prefix and read every link the workflow has, on every page: a cost growing with the
workflow's history rather than with the page. The workflow's own index is then redundant (the unique index
starts with the same column); it is dropped on its own, since `AlterField` would also drop and re-create
the foreign key, re-checking every link under a lock. Re-creating the unique index itself holds the table's
lock while it is built (seconds per million step links): on a large installation, upgrade in a quiet moment.
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
    model = apps.get_model("workflows", "StepLink")
    for name in _workflow_indexes(schema_editor, model):
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("workflows", "StepLink")
    if not _workflow_indexes(schema_editor, model):
        field = model._meta.get_field("workflow")
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0008_runrecord_drop_run_index"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="steplink", name="steplink_unique_record"),
        migrations.AddConstraint(
            model_name="steplink",
            constraint=models.UniqueConstraint(
                fields=["workflow", "source_id", "step_id"], name="steplink_unique_record"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="steplink",
                    name="workflow",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="step_links",
                        to="workflows.workflow",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]
