"""The kind tier: real pods on a kind cluster, built offline (build.sh) and run by the e2e suite.

engine.py runs the tier's private Docker engine, archive.py packs images for kind's node image
build, images.py builds the runner and test images, cluster.py is the test session, backend.py
drives kubectl and helm. docs/testing.md, "The kind tier", describes the whole.
"""
