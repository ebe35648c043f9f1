"""Synchronous, typed Python SDK for the Blue Current charge-point websocket API."""
