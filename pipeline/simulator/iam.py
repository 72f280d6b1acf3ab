"""The two IAM calls a ModelArts client needs: list projects (the SDK's project-id lookup) and password
tokens (reference section 6.4). IAM's own error style differs from the gateway's: `{"error": {...}}`."""

import hashlib
import json
from collections.abc import Iterable

from pipeline.simulator.auth import TokenStore, iam_time
from pipeline.simulator.projects import ProjectInfo


class IamError(Exception):
    def __init__(self, status: int, message: str, title: str):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": status, "message": message, "title": title}}


def _bad_request(message: str) -> IamError:
    return IamError(400, message, "Bad Request")


def project_doc(p: ProjectInfo, base_url: str) -> dict:
    # Region projects hang off the account (domain); sub-projects off their region's project.
    return {
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "enabled": True,
        "description": "",
        "parent_id": p.domain_id,
        "is_domain": False,
        "links": {"self": f"{base_url}/v3/projects/{p.id}"},
    }


def list_projects(projects: Iterable[ProjectInfo], query: dict[str, str], base_url: str, raw_query: str) -> dict:
    items = [p for p in projects if "name" not in query or p.name == query["name"]]
    by_name = {p.name: p.id for p in items}
    docs = []
    for p in items:
        doc = project_doc(p, base_url)
        if "_" in p.name:
            doc["parent_id"] = by_name.get(p.region, p.domain_id)
        docs.append(doc)
    self_link = f"{base_url}/v3/projects" + (f"?{raw_query}" if raw_query else "")
    return {"projects": docs, "links": {"self": self_link, "previous": None, "next": None}}


class PasswordAuth:
    def __init__(self, users: Iterable[tuple[str, str, str]], tokens: TokenStore, domain_id: str):
        # (user, domain name) -> password
        self._users = {(u, d): pw for u, pw, d in users}
        self._tokens = tokens
        self._domain_id = domain_id

    def issue(self, body: bytes, projects: list[ProjectInfo], base_url: str, no_catalog: bool
              ) -> tuple[str, dict]:
        """(token, response body) for a password-method request, or IamError."""
        try:
            request = json.loads(body or b"{}")
            auth = request["auth"]
            identity = auth["identity"]
            user = identity["password"]["user"]
            name, password, domain = user["name"], user["password"], user.get("domain") or {}
        except (ValueError, KeyError, TypeError):
            raise _bad_request("The request body is invalid.") from None
        if "password" not in (identity.get("methods") or []):
            raise _bad_request("Only the password method is supported here.")
        domain_name = domain.get("name")
        if domain_name is None and domain.get("id") == self._domain_id:
            domain_name = next((d for (u, d) in self._users if u == name), None)
        if domain_name is None or self._users.get((name, domain_name)) != password:
            raise IamError(401, "The username or password is wrong.", "Unauthorized")
        scopes = auth.get("scope") or {}
        if "domain" in scopes and "project" not in scopes:
            # A domain-scoped token: what IAM calls such as GET /v3/projects need.
            wanted = scopes.get("domain") or {}
            if wanted.get("id") not in (None, self._domain_id) or wanted.get("name") not in (None, domain_name):
                raise _bad_request("The domain in the scope does not exist.")
            token = self._tokens.issue(name, domain_name, None)
            return token.value, self._token_doc(token, base_url, no_catalog)
        scope = scopes.get("project") or {}
        project = next((p for p in projects if p.id == scope.get("id") or
                        (scope.get("id") is None and p.name == scope.get("name"))), None)
        if project is None:
            raise _bad_request("The project in the scope does not exist or is not specified.")
        token = self._tokens.issue(name, domain_name, project)
        return token.value, self._token_doc(token, base_url, no_catalog)

    def _token_doc(self, token, base_url: str, no_catalog: bool) -> dict:
        domain = {"id": self._domain_id, "name": token.domain_name}
        p = token.project
        doc = {
            "expires_at": iam_time(token.expires_at),
            "issued_at": iam_time(token.issued_at),
            "methods": ["password"],
        }
        if p is None:
            doc["domain"] = domain
        else:
            doc["project"] = {"id": p.id, "name": p.name, "domain": domain}
        doc.update({
            "user": {"id": _user_id(token.user, self._domain_id), "name": token.user, "domain": domain,
                     "password_expires_at": ""},
            "roles": [{"id": "0", "name": "op_gated_modelarts"}, {"id": "1", "name": "te_admin"}],
        })
        if not no_catalog and p is not None:
            doc["catalog"] = [
                {"type": "modelarts", "name": "modelarts", "id": "modelarts",
                 "endpoints": [{"id": p.id[:16], "interface": "public", "region": p.region,
                                "region_id": p.region, "url": base_url}]},
                {"type": "identity", "name": "iam", "id": "iam",
                 "endpoints": [{"id": p.id[16:], "interface": "public", "region": "*",
                                "region_id": "*", "url": f"{base_url}/v3"}]},
            ]
        return {"token": doc}


def _user_id(user: str, domain_id: str) -> str:
    return hashlib.blake2b(f"{domain_id}:{user}".encode(), digest_size=16).hexdigest()
