"""The encoder every test embeds with (not a test module): torch float32 on every CPU.

With auto, every test home (and every server a test starts) would export its own OpenVINO
graph first, and on a CPU with bfloat16 (AMX, AVX512-BF16) torch would take bfloat16, whose
vectors move a borderline paper across a threshold of the small test models.
tests/test_encoders.py runs the other backends and precisions explicitly. conftest sets
these in the suite's environment; a test that builds a subprocess environment of its own
passes them on.
"""

SUITE_ENCODER = {"PAPERREC_EMBEDDING_BACKEND": "torch", "PAPERREC_EMBEDDING_PRECISION": "float32"}
