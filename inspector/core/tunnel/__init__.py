"""The ngrok tunnel: the agent's life and supervisor, its failures, its settings and secrets.

Stands apart from the session wings: the engine and the front ends use it, it uses none of them.
The names below are the tunnel's public face, importable from here as before the split.
"""

from inspector.core.tunnel.addresses import NGROK_HOST_SUFFIXES, tunnel_client_address
from inspector.core.tunnel.agent import StateCallback, TunnelManager, TunnelState
from inspector.core.tunnel.credentials import is_tunnel_basic_auth
from inspector.core.tunnel.failures import (
    AGENTS_URL,
    AUTHTOKEN_URL,
    DOMAINS_URL,
    FATAL_KINDS,
    ErrorKind,
    TunnelError,
    classify_agent_error,
    missing_binary_error,
    no_authtoken_error,
)
from inspector.core.tunnel.install import install_agent
from inspector.core.tunnel.redact import redact
from inspector.core.tunnel.settings import (
    REGIONS,
    AuthtokenSource,
    TunnelOptions,
    authtoken_from_ngrok_config,
    resolve_authtoken,
    resolve_ngrok_path,
    user_ngrok_config_paths,
    validate_basic_auth,
)

__all__ = [
    "AGENTS_URL",
    "AUTHTOKEN_URL",
    "DOMAINS_URL",
    "FATAL_KINDS",
    "NGROK_HOST_SUFFIXES",
    "REGIONS",
    "AuthtokenSource",
    "ErrorKind",
    "StateCallback",
    "TunnelError",
    "TunnelManager",
    "TunnelOptions",
    "TunnelState",
    "authtoken_from_ngrok_config",
    "classify_agent_error",
    "install_agent",
    "is_tunnel_basic_auth",
    "missing_binary_error",
    "no_authtoken_error",
    "redact",
    "resolve_authtoken",
    "resolve_ngrok_path",
    "tunnel_client_address",
    "user_ngrok_config_paths",
    "validate_basic_auth",
]
