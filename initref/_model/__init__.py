"""Model-level initialization and diagnosis (hand-written; the framework modules
:mod:`initref.torch`, :mod:`initref.keras` and :mod:`initref.flax` export ``initialize`` and
``diagnose`` from here).

:mod:`.common` is framework-independent: the catalogue of known rules, the statistical match of
a measured std to a rule, the per-layer second-moment factor and the report types.  The
framework parts (:mod:`.torch`, :mod:`.keras`, :mod:`.flax`) import only their framework.
"""
