"""
Front ends: one module per wire protocol.  Each parses its wire, calls the hub
and renders the hub's events; none reaches into another.
"""
