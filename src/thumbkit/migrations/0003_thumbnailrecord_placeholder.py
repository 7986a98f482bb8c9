from django.db import migrations, models


class Migration(migrations.Migration):
    """The source's placeholder on each record: dominant colour and ThumbHash (empty on
    records made before)."""

    dependencies = [("thumbkit", "0002_generationlock_owner")]

    operations = [
        migrations.AddField(
            model_name="thumbnailrecord",
            name="placeholder_color",
            field=models.CharField(blank=True, default="", max_length=9),
        ),
        migrations.AddField(
            model_name="thumbnailrecord",
            name="thumbhash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
