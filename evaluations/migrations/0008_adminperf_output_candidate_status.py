from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0007_seckeys_provider_connections"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="output",
            index=models.Index(fields=["candidate", "status"], name="output_candidate_status"),
        ),
    ]
