"""Numerics studies: scripts that measure the golden formats on synthetic tensors and write
Markdown/PNG reports to ``build/reports`` (``make study-mxsf``, ...); run with their default
parameters they also rewrite their stamped sections of docs/ (:mod:`studies.docs`).

Every quantized value comes from the golden models (``golden.formats``, ``golden.mx``); a study
only generates inputs, measures errors and writes reports. Shared helpers are in
:mod:`studies.common`.
"""
