"""Revisions of the results database, oldest first: 0001_baseline, 0002_recordings, 0003_run_threads, ..."""
