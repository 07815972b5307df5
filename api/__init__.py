"""The HTTP layer: routers and the dependencies they share.

Imports point one way: api/ may use data, tools, chat and settings; none of those imports api/.
"""
