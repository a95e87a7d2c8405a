"""The container suite behind ``make docker-test``: build the image with podman, run it on
loopback ports, and drive it with the openai SDK. pytest does not collect it (no ``test_``
modules here), so ``make test`` needs no container engine.
"""
