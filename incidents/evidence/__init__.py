"""Evidence files attached to incidents (issue 13 §4).

sniff      what an upload is, from its bytes (an allowlist; executables named by what they are)
services   evidence_add: checks, stores through the "evidence" storage, ledgers the SHA-256
selectors  evidence an incident's viewers may list and download
views, forms, urls: the page; api, api_urls: the API
"""
