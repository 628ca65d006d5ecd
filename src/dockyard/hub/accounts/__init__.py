"""The hub's own accounts (`hub serve --auth accounts`): users, organizations, teams,
per-repository permissions, personal access tokens, web sessions and the audit log.

    store.py     the tables in hub.db and every change to them (changes of permissions are audited)
    policy.py    what a permission level lets a caller do, and who holds which level on a repository
    access.py    the registry's access mode over them: Docker's token flow, checked on every request
    web.py       sign-in, tokens, organizations and repository settings pages (CSRF-protected forms)
    cli.py       `hub user|org|team|grant|token|audit ...` for local administration
"""
