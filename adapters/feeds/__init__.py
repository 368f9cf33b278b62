"""Bed and staffing feeds: webhook updates, snapshots and polled URLs, parsed into typed records.

The adapter owns transport, authentication and parsing; turning records into events against
the census is the ``feed_events`` plugin's job (``plugins/feeds.py``). See docs/feeds.md.
"""
