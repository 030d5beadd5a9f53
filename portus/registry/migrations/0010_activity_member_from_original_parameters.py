"""Member lines imported from the original Portus name their member and roles.

The original recorded them under its own parameter names (team_user, old_role, new_role), which the
pages did not read, so such a line showed "?" for the member. The recorded values are copied under the
names the pages read; nothing is guessed, and a line without them stays as it is. (Lines that named
the new account as the creator of its own account cannot be corrected this way: nothing stored says
who created it; the pages show them without an actor, see portus/web/activity_lines.py.)"""

from django.db import migrations

OURS = {"team_user": "member", "old_role": "old", "new_role": "role"}


def name_members(apps, schema_editor):
    Activity = apps.get_model("registry", "Activity")
    lines = Activity.objects.filter(
        action__in=["team.add_member", "team.change_role", "team.remove_member"], data__imported=True
    )
    for line in lines.iterator(chunk_size=500):
        found = {
            mine: str(line.data[theirs]) for theirs, mine in OURS.items() if line.data.get(theirs) not in (None, "")
        }
        missing = {key: value for key, value in found.items() if key not in line.data}
        if missing:
            line.data = {**line.data, **missing}
            line.save(update_fields=["data"])


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0009_image_read_retry"),
    ]

    operations = [
        migrations.RunPython(name_members, migrations.RunPython.noop),
    ]
