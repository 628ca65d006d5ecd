"""Finding images on the hub: search, descriptions and READMEs, pull counts.

    info.py      the repositories' index in hub.db: description, README, pulls per tag
    search.py    ranked, visibility-filtered search and Docker's `GET /v1/search` shape
    markdown.py  README Markdown to sanitised HTML
    readme.py    a build source's README from its git repository
    tracking.py  what registry responses tell: pulls counted, pushes indexed and audited
"""
