"""The Windows event log file format (EVTX, version 3), read and written.

- :mod:`.layout`: the bytes: file header, chunks, record headers, FILETIME; and what a reader
  and a writer agree on besides (level numbers, audit keyword bits, the message of a record
  without message text).
- :mod:`.index`: which chunks a file holds and which a time window needs, from headers alone.
- :mod:`.binxml`: the binary XML inside records (the writing side).
- :mod:`.record`: how an event's fields become one record's values.
- :mod:`.writer`: :class:`~.writer.EvtxWriter`, which writes events as a file.

Reading records' XML is the `evtx` package's job (Rust); the .evtx source
(:mod:`eventsweep.sources.evtx`) hands it the chunks :mod:`.index` chose. The .evtx output
(:mod:`eventsweep.sinks.evtx`) orders events and feeds :class:`~.writer.EvtxWriter`.
"""
