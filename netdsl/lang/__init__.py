"""The language: text → IR (parser, incremental reparse), the formatter and diagnostics.

Knows no registry and no plugin: every name stays a name here. Imports only :mod:`netdsl.errors`.
"""
