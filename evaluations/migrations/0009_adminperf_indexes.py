from django.db import migrations, models

# Trigram indexes on the expression Django's icontains compares (UPPER(column) LIKE UPPER(%s)),
# so that the admin's search of big tables reads the index; PostgreSQL only (pg_trgm is a
# trusted extension: the database's owner may create it). SQLite (`make run`) skips them.
TRIGRAM_INDEXES = [
    ("output_text_trgm", "evaluations_output", "text"),
    ("output_last_error_trgm", "evaluations_output", "last_error"),
    ("prompt_text_trgm", "evaluations_prompt", "text"),
]


def trigram_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRIGRAM_INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER("{column}") gin_trgm_ops)'
        )


def trigram_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0008_genfirst_output_heartbeat"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="output",
            index=models.Index(fields=["candidate", "status"], name="output_candidate_status"),
        ),
        migrations.AddIndex(
            model_name="prompt",
            index=models.Index(fields=["study", "id"], name="prompt_study_order"),
        ),
        migrations.RunPython(trigram_indexes_create, trigram_indexes_drop),
    ]
