"""Literal, slow, obviously-correct transcriptions of the paper's tables and equations, and of the
reference codebases (the study's own compare_gan, the SNGAN authors' ResNet).

Written from the equations in docs/design.md ("The GAN zoo", "The six ResNet differences"), the
cited papers and the cited source files (file and line at each block), never from this package's
code: the package is tested against them, and the architecture audit diffs against them.
"""
