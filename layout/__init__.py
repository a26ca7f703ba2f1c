"""The document side of the service: decoding, layout post-processing, reading order, cropping, Markdown.

Everything here is plain Python over NumPy arrays and dataclasses, so it is unit-tested without Ray.
"""
