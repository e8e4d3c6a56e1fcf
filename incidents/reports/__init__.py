"""Regulator reports (issue 13 §3, DESIGN §8): per incident and regime, versioned, frozen once
submitted, hashed, ledgered and exported.

    regimes    each regime's template (its fields) and the JSON Schema built from it
    prefill    a draft's fields filled from the incident
    records    the submitted record, its canonical JSON and SHA-256; verification
    hooks      on_submitted(callback): what else happens when a version is submitted (clocks)
    services   start, save, submit (writes); selectors: reads, filtered by incident visibility
    events     the ledger verbs
"""
