"""`dockyard hub user|org|team|grant|token|audit ...`: local administration of the hub's accounts.

These write hub.db directly (like `hub source add`), so they work with the hub stopped or
running; what they change takes effect on the running hub's next request. Changes are
audited with an empty actor (the machine's administrator).
"""

from __future__ import annotations

import sys
import time

import click


def _accounts(ctx: click.Context):
    from dockyard.hub.accounts.store import Accounts
    from dockyard.hub.state import HubState

    return Accounts(HubState(ctx.obj["root"]).db)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group()
def user() -> None:
    """Users of the hub (`hub serve --auth accounts`)."""


@user.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="A site administrator: administers every repository.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_add(ctx: click.Context, name: str, admin: bool, password_stdin: bool) -> None:
    """Add a user with a password (bcrypt-hashed)."""
    _accounts(ctx).add_user(name, _password(password_stdin), site_admin=admin)
    click.echo(f"user {name} added")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password (signs out the user's web sessions)."""
    _accounts(ctx).set_password(name, _password(password_stdin), actor="")
    click.echo(f"password of {name} changed")


@user.command("reset-link")
@click.argument("name")
@click.option("--url", default="", metavar="BASE", help="The hub's address, to print a whole link (http://HOST:PORT).")
@click.pass_context
def user_reset_link(ctx: click.Context, name: str, url: str) -> None:
    """Print a one-time link (valid 24 hours) with which NAME sets a new password; no mail is sent."""
    secret = _accounts(ctx).reset_link(name, actor="")
    click.echo(f"{url.rstrip('/')}/reset/{secret}")


@user.command("2fa-off")
@click.argument("name")
@click.pass_context
def user_2fa_off(ctx: click.Context, name: str) -> None:
    """Turn NAME's two-factor sign-in off (a lost authenticator)."""
    _accounts(ctx).disable_totp(name, actor="")
    click.echo(f"two-factor sign-in of {name} is off")


@click.command("signup")
@click.argument("state", type=click.Choice(["open", "closed"]))
@click.pass_context
def signup(ctx: click.Context, state: str) -> None:
    """Let anyone make an account on the pages (open, the default) or only administrators (closed)."""
    _accounts(ctx).set_signup(state == "open", actor="")
    click.echo(f"sign-up is {state}")


@user.command("ls")
@click.pass_context
def user_ls(ctx: click.Context) -> None:
    """List users."""
    for name, admin in _accounts(ctx).users():
        click.echo(f"{name}{'  (site admin)' if admin else ''}")


@user.command("rm")
@click.argument("name")
@click.pass_context
def user_rm(ctx: click.Context, name: str) -> None:
    """Remove a user: memberships, grants and sessions go, tokens are revoked."""
    _accounts(ctx).remove_user(name)
    click.echo(f"user {name} removed")


@click.group()
def org() -> None:
    """Organizations and their teams."""


@org.command("add")
@click.argument("name")
@click.option("--owner", required=True, help="The first member of the owners team.")
@click.pass_context
def org_add(ctx: click.Context, name: str, owner: str) -> None:
    """Add an organization; its `owners` team administers all its repositories."""
    _accounts(ctx).add_org(name, owner, actor="")
    click.echo(f"organization {name} added, owned by {owner}")


@org.command("team")
@click.argument("org_name", metavar="ORG")
@click.argument("team")
@click.pass_context
def org_team(ctx: click.Context, org_name: str, team: str) -> None:
    """Add a team to ORG."""
    _accounts(ctx).add_team(org_name, team)
    click.echo(f"team {org_name}/{team} added")


@org.command("member")
@click.argument("org_name", metavar="ORG")
@click.argument("team")
@click.argument("user_name", metavar="USER")
@click.option("--remove", is_flag=True, help="Take USER out of the team instead.")
@click.pass_context
def org_member(ctx: click.Context, org_name: str, team: str, user_name: str, remove: bool) -> None:
    """Put USER in (or take out of) ORG's TEAM."""
    _accounts(ctx).set_member(org_name, team, user_name, not remove)
    click.echo(f"{user_name} {'removed from' if remove else 'added to'} {org_name}/{team}")


@org.command("ls")
@click.pass_context
def org_ls(ctx: click.Context) -> None:
    """List organizations with their teams and members."""
    accounts = _accounts(ctx)
    for name in accounts.orgs():
        click.echo(name)
        for team, members in accounts.teams(name).items():
            click.echo(f"  {team}: {', '.join(members)}")


@click.command("grant")
@click.argument("repo")
@click.argument("grantee")
@click.argument("level", type=click.Choice(["read", "write", "admin", "none"]))
@click.pass_context
def grant(ctx: click.Context, repo: str, grantee: str, level: str) -> None:
    """Give GRANTEE (user:NAME or team:ORG/TEAM) LEVEL on REPO; `none` takes it away."""
    from dockyard.hub.accounts import policy

    _accounts(ctx).grant(repo, grantee, policy.NONE if level == "none" else policy.parse_level(level))
    click.echo(f"{grantee}: {level} on {repo}")


@click.group()
def token() -> None:
    """Personal access tokens (for `docker login`)."""


@token.command("create")
@click.argument("user_name", metavar="USER")
@click.option("--name", "description", required=True, help="What the token is for.")
@click.option("--scope", default="repo:write", show_default=True,
              type=click.Choice(["repo:admin", "repo:write", "repo:read", "repo:public_read"]))
@click.option("--expires", "days", type=int, help="Days the token is valid (default: until revoked).")
@click.pass_context
def token_create(ctx: click.Context, user_name: str, description: str, scope: str, days: int | None) -> None:
    """Create a token for USER and print it (it is not kept, only its hash)."""
    _, secret = _accounts(ctx).create_token(user_name, description, scope, actor="", days=days)
    click.echo(secret)


@token.command("ls")
@click.argument("user_name", metavar="USER")
@click.pass_context
def token_ls(ctx: click.Context, user_name: str) -> None:
    """List USER's tokens."""
    from dockyard.cli.formatting import human_ago, tabwrite

    rows = ["ID\tDESCRIPTION\tSCOPE\tCREATED\tLAST USED\tEXPIRES\tSTATUS"]
    for t in _accounts(ctx).tokens(user_name):
        used = human_ago(time.time() - t.last_used) if t.last_used else "never"
        expires = time.strftime("%Y-%m-%d", time.gmtime(t.expires)) if t.expires else "never"
        rows.append(f"{t.id}\t{t.name}\t{t.scope}\t{human_ago(time.time() - t.created)}\t{used}\t{expires}\t{t.status}")
    click.echo(tabwrite("\n".join(rows)))


@token.command("revoke")
@click.argument("user_name", metavar="USER")
@click.argument("token_id", metavar="ID")
@click.pass_context
def token_revoke(ctx: click.Context, user_name: str, token_id: str) -> None:
    """Revoke one of USER's tokens: the next request made with it is refused."""
    _accounts(ctx).revoke_token(user_name, token_id, actor="")
    click.echo(f"token {token_id} revoked")


@click.command("audit")
@click.option("--repo", help="Only entries about this repository.")
@click.option("-n", "--limit", default=100, show_default=True)
@click.pass_context
def audit(ctx: click.Context, repo: str | None, limit: int) -> None:
    """Who pushed, deleted and changed permissions, newest first."""
    from dockyard.cli.formatting import tabwrite

    rows = ["WHEN\tWHO\tACTION\tREPOSITORY\tDETAIL"]
    for e in _accounts(ctx).audit_log(repo, limit):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at))
        rows.append(f"{when}\t{e.actor or '-'}\t{e.action}\t{e.repo or '-'}\t{e.detail}")
    click.echo(tabwrite("\n".join(rows)))


COMMANDS = (user, org, grant, token, audit, signup)
