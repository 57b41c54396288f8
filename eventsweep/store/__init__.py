"""The store: every sweep kept in one SQLite file (issue 12).

schema    the DDL, its version (``PRAGMA user_version``) and migrations; the check that
          refuses a file that is not a store, before anything writes to it
writer    :class:`~eventsweep.store.writer.StoreWriter`, an output of the sweep call: one
          writer thread, WAL, batched commits, outcomes and bookmarks after their events
reader    :class:`~eventsweep.store.reader.Reader` and :class:`~eventsweep.store.reader.Filter`:
          the query builder behind ``eventsweep query`` and the web application
text      what of a ``--grep`` pattern the full-text index answers
location  where the store lives (``--store``, ``EVENTSWEEP_STORE``, the user data dir)
"""
