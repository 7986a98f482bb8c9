from django.db import migrations, models


class Migration(migrations.Migration):
    """Lock owners: a killed holder's lock is taken over at once, not at expiry."""

    dependencies = [("thumbkit", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="generationlock",
            name="host",
            field=models.CharField(default="", max_length=255),
        ),
        migrations.AddField(
            model_name="generationlock",
            name="pid",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="generationlock",
            name="started",
            field=models.CharField(default="", max_length=32),
        ),
        migrations.AddField(
            model_name="generationlock",
            name="heartbeat",
            field=models.FloatField(default=0.0),
        ),
    ]
