"""Reportability to regulators and their clocks (DESIGN §8, issue 13 §1–2).

rules      the facts each regime decides on, ISO 8601 durations, rule validation and the
           deadline a rule gives (pure functions over plain data: no ORM)
selectors  reads, filtered to what the user may see; the one place drills leave the clocks
services   assessment_record, clock_meet, clocks_sync, clock_reminders_send, rule_version_create
events     the ledger verbs
views, forms, urls, api/: the incident's reportability page, /deadlines/, the API
"""
