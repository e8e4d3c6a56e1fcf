"""Sharing an incident with other developers and government bodies (issue 13 §6).

fields    the allowlist of what a package may carry, each with its builder (other apps add
          theirs, e.g. corrections taken, without this package importing them)
package   the JSON package and the STIX 2.1 bundle, built only from the chosen fields
services  sharing_create: who may, what is refused (drills, inactive recipients), the record
selectors, views, forms, urls: the page; api, api_urls: the API
"""
