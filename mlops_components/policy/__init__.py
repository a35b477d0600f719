"""The platform's policy pack: rules a platform team enforces on every stack.

:mod:`.rules` holds the rule functions, :mod:`.policies` the pulumi-policy objects the pack
(``pack/``, a CrossGuard policy pack) and ``mlops preview`` (:mod:`.offline`) both run.
"""
