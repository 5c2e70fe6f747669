"""Authoring layer: builder, portable manifest, validation, reducers, routing, diagrams."""

from . import reducers
from .builder import ManifestBuilder
from .errors import GraphValidationError, ValidationProblem
from .manifest import EventSpec, GraphManifest, NodeSpec, RetryPolicy, WaitSpec
from .registration import GraphRegistration
from .routing import END, START, RouteAction, RouteDecision, Send

__all__ = [
    "END",
    "START",
    "EventSpec",
    "GraphManifest",
    "GraphRegistration",
    "GraphValidationError",
    "ManifestBuilder",
    "NodeSpec",
    "RetryPolicy",
    "RouteAction",
    "RouteDecision",
    "Send",
    "ValidationProblem",
    "WaitSpec",
    "reducers",
]
