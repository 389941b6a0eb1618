"""Tests of ``bioblocks.sources``."""
