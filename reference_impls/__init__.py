"""Literal, slow, obviously-correct transcriptions of the paper's tables and equations.

Written from the equations in DESIGN.md and the cited papers, not from other projects'
code. The package is tested against them, and the architecture audit diffs against them.
"""
