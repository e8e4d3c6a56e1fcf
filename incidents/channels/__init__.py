"""Where notifications go: one small connector per channel behind one interface (base.Channel)."""
