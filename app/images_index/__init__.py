"""The image index: one record per stored image (who made it, where it lives, until when),
listed and deleted through ``/v1/images`` and ``/admin/v1/images``, and the retention sweeper
that deletes what expired.

- ``rows``: a request's stored images -> index rows (written by the usage ledger's batches);
- ``policy``: a key's retention and URL mode over the deployment's;
- ``store``: queries: a key's images newest first (keyset cursor), one image, delete, expiry;
- ``cursor``: the opaque, tamper-evident page cursor;
- ``lease``: one replica at a time for a periodic chore (a row taken by a conditional UPDATE);
- ``sweeper``: wakes every ``storage.sweep_interval``, deletes expired images, marks them.
"""
