"""One fit's search: planning, the ask/tell loop, trial execution, durable studies.

Everything here is private: users reach it through :func:`autometa.fit` and the
estimators, plugins through :mod:`autometa.contract`.
"""
