"""What following a model for automatic batching costs a row that never asks for a thumbnail.

thumbkit connects one ``post_init`` receiver (``thumbkit.adapters.peers.join``) to every model with
a file field. This times ``Model.from_db`` (what a queryset does per row) for 10,000 rows of a
model with a plain ``models.ImageField``, with the receiver connected and disconnected, and
prints the cost per row and the ratio. Run: ``python benchmarks/post_init_cost.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import timeit
from pathlib import Path

ROWS = 10_000


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.db.models.signals import post_init
    from tests.testapp.models import Member

    from thumbkit.adapters import peers

    names = [f.attname for f in Member._meta.concrete_fields]
    values = [(i, f"m{i}", f"profiles/p-{i:04}.jpg", "", "") for i in range(ROWS)]

    def load() -> None:
        rows = [Member.from_db("default", names, row) for row in values]
        peers.close_all()  # as a request would: the next page starts a new cohort
        del rows

    def per_row() -> float:
        return statistics.median(timeit.repeat(load, number=1, repeat=15)) / ROWS * 1e6

    uid = f"thumbkit:{Member._meta.label}:init"
    followed = per_row()
    post_init.disconnect(sender=Member, dispatch_uid=uid)
    bare = per_row()
    post_init.connect(peers.join, sender=Member, dispatch_uid=uid, weak=False)
    again = per_row()
    print(f"Model.from_db, {ROWS} rows of a model with a plain ImageField (median of 15):")
    print(f"  no receiver:       {bare:.2f} us/row")
    print(f"  thumbkit follows:  {followed:.2f} / {again:.2f} us/row (two measurements)")
    print(
        f"  cost of following: {min(followed, again) - bare:+.2f} us/row "
        f"({min(followed, again) / bare:.2f}x)"
    )


if __name__ == "__main__":
    main()
