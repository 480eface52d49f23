"""Answer quality: score a version's answers on a labelled data set, compare two versions, gate on it.

`deployer eval` runs the spec's evaluation set through a deployed version and the stable one
(`runner`), scores every answer (`scoring`), and decides whether a difference is real with a
paired test (`significance`: McNemar's exact test for labels, a paired bootstrap for scores).
The pure parts (scoring, significance) import nothing heavy.
"""
