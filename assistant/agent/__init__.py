"""The conversation engine: the brief, provenance of numbers, backends and the tool-calling loop.

Never imports Textual: the app consumes this package's events.
"""
