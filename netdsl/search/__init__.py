"""Search spaces: ``choice(...)`` and ``range(...)`` in a program, checked before anything
trains (:mod:`.space`, :mod:`.check`), and tuned with Optuna (:mod:`.tune`, ``netdsl tune``)."""
