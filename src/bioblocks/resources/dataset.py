"""The ``dataset`` resource: one count matrix and the analyses derived from it.

``viewOnly``: the imported file held no counts (an ``.h5ad`` with scaled or log-normalised
``X``); its matrix colours cells and serves expression, and SPRING, t-SNE and UMAP refuse
it. ``cell_types``, ``tissues``, ``diseases``, ``assays`` and ``ontology_term_ids`` are the
distinct values of a CELLxGENE Discover file's ontology columns, lists a ``where`` filter
matches by element (``{"cell_types": "T cell"}``).

``visibility`` (``"public"`` when absent, or ``"private"``) and ``group`` say who may
read and write it (:mod:`bioblocks.access`); analyses, jobs and files follow it.
"""

from __future__ import annotations

from ._schema import Resource, Schema

SPECIES = [
    "anolis_carolinensis", "arabidopsis_thaliana", "bos_taurus", "brachypodium_distachyon",
    "gallus_gallus", "homo_sapiens", "hordeum_vulgare", "macaca_mulatta",
    "monodelphis_domestica", "mus_musculus", "oryza_sativa", "papio_anubis",
    "rattus_norvegicus", "solanum_lycopersicum", "solanum_tuberosum", "sorghum_bicolor",
    "tetraodon_nigroviridis", "triticum_aestivum", "xenopus_tropicalis", "zea_mays",
]

SCHEMA: Schema = {
    "name": {"type": "string", "minlength": 1, "maxlength": 128, "required": True},
    "analyses": {
        "type": "list",
        "default": [],
        "schema": {
            "type": "string",
            "data_relation": {"resource": "analysis", "field": "_id", "embeddable": True},
        },
    },
    "authors": {
        "type": "list",
        "default": [],
        "schema": {"type": "string", "minlength": 1, "maxlength": 64},
    },
    "derivedFrom": {
        "type": "list",
        "default": [],
        "schema": {
            "type": "string",
            "data_relation": {"resource": "dataset", "field": "_id", "embeddable": True},
        },
    },
    "matrixInfo": {
        "type": "dict",
        "schema": {
            "colCount": {"type": "integer"},
            "rowCount": {"type": "integer"},
            "cells": {"type": "integer", "min": 0},
            "genes": {"type": "integer", "min": 0},
            "nonzeros": {"type": "integer", "min": 0},
            "sourceFormat": {"type": "string", "maxlength": 64},
            # per-cell columns an import renamed or dropped (never silently)
            "renamed": {"type": "list", "schema": {"type": "dict", "schema": {
                "column": {"type": "string"}, "as": {"type": "string"},
                "reason": {"type": "string"}}}},
            "dropped": {"type": "list", "schema": {"type": "dict", "schema": {
                "column": {"type": "string"}, "file": {"type": "string"},
                "reason": {"type": "string"}}}},
            # an .h5ad: where the counts came from (when not X), the embeddings kept,
            # and every other part of the file with the reason it was not imported
            "countsSource": {"type": "string", "maxlength": 64},
            "embeddings": {"type": "list", "schema": {"type": "string", "maxlength": 256}},
            "notImported": {"type": "list", "schema": {"type": "dict", "schema": {
                "element": {"type": "string"}, "file": {"type": "string"},
                "reason": {"type": "string"}}}},
        },
    },
    "viewOnly": {"type": "boolean"},
    **{facet: {"type": "list", "schema": {"type": "string", "maxlength": 1024}}
       for facet in ("cell_types", "tissues", "diseases", "assays", "ontology_term_ids")},
    "matrixLocation": {"type": "string", "minlength": 1, "maxlength": 256},
    "species": {"type": "string", "allowed": SPECIES},
    "hca": {"type": "dict"},
    "cellMetadata": {"type": "list", "schema": {"type": "string", "maxlength": 256}},
    # access control (bioblocks.access): absent visibility is public; a private dataset
    # is seen by its group only
    "visibility": {"type": "string", "allowed": ["public", "private"]},
    "group": {"type": "string", "minlength": 1, "maxlength": 128, "nullable": True},
}

RESOURCE = Resource("dataset", SCHEMA)
