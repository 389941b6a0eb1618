"""Bioblocks Server: single-cell RNA-seq datasets and their analyses over an Eve-compatible API."""

__version__ = "0.1.0"
