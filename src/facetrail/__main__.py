"""``python -m facetrail``: the same as the ``facetrail`` command."""

from facetrail.cli.main import main

main()
