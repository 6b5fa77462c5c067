"""Tests of the ingest readers (storage/ingest): real files written by the fixtures."""
