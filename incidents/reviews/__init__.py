"""Post-incident reviews (DESIGN §8a): a versioned document per incident, published by its
commander (and, for SEV1–2, approved by leadership), immutable once published, with follow-up
actions tracked as work after it."""
