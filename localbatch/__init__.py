"""localbatch: a local stand-in for an Azure Batch pool.

A separate process (`python -m localbatch`) with a persistent task queue in
SQLite, worker slots that run each task's argv in its own working directory,
each in a bubblewrap sandbox, resource files from and output files to blob
storage (retried while storage is briefly down), and a small JSON API behind a
key that shared.adapters.local_batch_backend talks to. See README.md.
"""
