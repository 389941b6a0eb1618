"""Tests of ``bioblocks.sources.hca`` and the fake Azul server other tests reuse."""
